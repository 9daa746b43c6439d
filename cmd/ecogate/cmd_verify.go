package main

import (
	"context"
	"fmt"
	"io"
)

func runVerify(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "ecogate verify: not implemented yet")
	return exitUsage
}
