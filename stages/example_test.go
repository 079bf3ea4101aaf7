package stages_test

import (
	"fmt"
	"path/filepath"

	"speedrun/stages"
)

func ExampleRegistry_Resolve() {
	reg, err := stages.Load(filepath.Join("..", "experiments.toml"))
	if err != nil {
		fmt.Println(err)
		return
	}
	paper, _ := reg.Resolve(4, "p4.s10", "paper")
	smoke, _ := reg.Resolve(4, "p4.s10", "smoke")
	fmt.Println(paper.Net.Name, paper.Train.Epochs, paper.Train.LR, paper.LRAt(2.5))
	fmt.Println(smoke.Dataset, smoke.Train.Epochs, smoke.Train.BatchSize, smoke.Data.TrainSize)
	prev, _ := reg.Resolve(4, "p4.s9", "paper")
	for _, ch := range prev.Diff(paper) {
		fmt.Println(ch)
	}
	// Output:
	// resnet9 24 [{0 0} {5 0.4} {24 0}] 0.2
	// synthetic 2 128 512
	// train.epochs: 20 -> 24
	// train.lr: [[0, 0], [4, 0.4], [20, 0]] -> [[0, 0], [5, 0.4], [24, 0]]
}
