package main

import (
	"context"
	"fmt"
	"io"
)

func runSign(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "ecogate sign: not implemented yet")
	return exitUsage
}
