package main

import "github.com/urfave/cli/v2"

func newVersionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the commit and the Go version s3ferry was built with",
		Description: `Prints one line, the same as s3ferry --version.

Examples:
 1. s3ferry version
 2. What the installed package runs:
    /usr/bin/s3ferry version`,
		Action: func(c *cli.Context) error {
			cli.ShowVersion(c) // the same line as --version
			return nil
		},
	}
}
