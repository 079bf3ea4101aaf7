package main

import (
	"context"
	"errors"
)

// TODO(owner): replace this placeholder with the real subcommand.
func sweepCommand() command {
	return command{name: "sweep", short: "(not yet implemented)", run: func(ctx context.Context, env *cmdEnv, args []string) error {
		return errors.New("sweep: not implemented yet")
	}}
}
