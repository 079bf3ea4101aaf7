package main

import (
	"context"
	"errors"
)

// TODO(owner): replace this placeholder with the real subcommand.
func dataCommand() command {
	return command{name: "data", short: "(not yet implemented)", run: func(ctx context.Context, env *cmdEnv, args []string) error {
		return errors.New("data: not implemented yet")
	}}
}
