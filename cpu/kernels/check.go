package kernels

import "fmt"

func checkLen(fn, name string, got, want int) error {
	if got != want {
		return fmt.Errorf("kernels: %s: len(%s)=%d, want %d", fn, name, got, want)
	}
	return nil
}

// lenCheck is one expected slice length; a slice of them is checked by
// checkLens without boxing, so validation allocates nothing.
type lenCheck struct {
	name      string
	got, want int
}

func checkLens(fn string, checks []lenCheck) error {
	for _, c := range checks {
		if err := checkLen(fn, c.name, c.got, c.want); err != nil {
			return err
		}
	}
	return nil
}
