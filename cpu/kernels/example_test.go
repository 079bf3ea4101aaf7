package kernels_test

import (
	"fmt"

	"speedrun/cpu/kernels"
)

// A 3x3 box filter over a 3x3 single-channel image with zero padding.
func ExampleConv() {
	s := kernels.ConvShape{N: 1, H: 3, W: 3, C: 1, K: 1, R: 3, S: 3, Stride: 1, Pad: 1}
	c, err := kernels.NewConv(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	w := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	y := make([]float32, s.YLen())
	if err := c.Forward(x, w, y); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(y)
	// Output: [12 21 16 27 45 33 24 39 28]
}

// Batch norm plus ReLU over 4 rows of one channel.
func ExampleBNAct() {
	b, err := kernels.NewBNAct(kernels.BNShape{N: 4, HW: 1, C: 1}, 1e-5, kernels.Activation{Kind: kernels.ActReLU})
	if err != nil {
		fmt.Println(err)
		return
	}
	x := []float32{1, 2, 3, 4}
	y := make([]float32, 4)
	mean, varUnbiased := make([]float32, 1), make([]float32, 1)
	if err := b.ForwardTrain(x, []float32{1}, []float32{0}, y, mean, varUnbiased); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("y %.3f mean %.2f var %.3f\n", y, mean[0], varUnbiased[0])
	// Output: y [0.000 0.000 0.447 1.342] mean 2.50 var 1.667
}
