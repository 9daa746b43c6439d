package main

import (
	"context"
	"fmt"
	"io"
)

func runValidate(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "ecogate validate: not implemented yet")
	return exitUsage
}
