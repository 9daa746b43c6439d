package main

import (
	"context"
	"fmt"
	"io"
)

func runPKI(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "ecogate pki: not implemented yet")
	return exitUsage
}
