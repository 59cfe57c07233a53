package main

import (
	"context"
	"fmt"
	"io"

	"github.com/adfscim/adfscim/internal/deploy"
)

// packageCommand builds the zip Azure Functions deploys.
func packageCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("package", "package [-out dist]", "Builds adfscim.zip, the package Azure Functions deploys, from the repository.", 0, stderr)
	out := c.fs.String("out", "dist", "directory that receives adfscim.zip")
	if _, err := c.load(args, func(string) string { return "" }); err != nil {
		return err
	}
	root, err := deploy.FindRepoRoot(".")
	if err != nil {
		return err
	}
	zip, err := deploy.Package(ctx, deploy.Options{RepoRoot: root, OutDir: *out})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, zip)
	return nil
}
