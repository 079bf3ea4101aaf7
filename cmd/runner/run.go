package main

import (
	"context"
	"errors"
)

// TODO(owner): replace this placeholder with the real subcommand.
func runCommand() command {
	return command{name: "run", short: "(not yet implemented)", run: func(ctx context.Context, env *cmdEnv, args []string) error {
		return errors.New("run: not implemented yet")
	}}
}
