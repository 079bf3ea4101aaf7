package main

import (
	"context"
	"errors"
)

// TODO(owner): replace this placeholder with the real subcommand.
func benchCommand() command {
	return command{name: "bench", short: "(not yet implemented)", run: func(ctx context.Context, env *cmdEnv, args []string) error {
		return errors.New("bench: not implemented yet")
	}}
}
