// Package scripts tests the repository's shell scripts (../../scripts):
// it has no code of its own. Each test runs a script with stand-ins for
// the system commands it calls.
package scripts
