//go:build race

package main

// raceEnabled: the test binary was built with -race (make check).
const raceEnabled = true
