package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// The packaged service's configuration and environment files: the unit
// gives the service the environment file's variables (EnvironmentFile=),
// and s3ferry reads it itself for a command given the packaged
// configuration, so `sudo -u s3ferry s3ferry doctor --config
// /etc/s3ferry/s3ferry.yml` has the service's credentials.
const (
	packagedConfig  = "/etc/s3ferry/s3ferry.yml"
	packagedEnvFile = "/etc/s3ferry/s3ferry.env"
)

// flagEnvFile names a file of KEY=VALUE lines to add to the environment.
const flagEnvFile = "env-file"

// maxEnvFile bounds what is read of an environment file.
const maxEnvFile = 1 << 20

// loadEnvFile adds the variables of the command's environment file to the
// process's environment, as systemd's EnvironmentFile= gives them to the
// service; a variable already set wins. The file is --env-file, or else
// packagedEnvFile when the configuration is packagedConfig and the file
// exists and may be read (root, the s3ferry user and group). S3FERRY_*
// variables in it set their flags, as they would in the service.
// It must be a secret file (readSecretFile): it holds credentials.
func loadEnvFile(c *cli.Context) error {
	name, given := c.Path(flagEnvFile), c.IsSet(flagEnvFile)
	if !given {
		if filepath.Clean(c.Path(flagConfig)) != packagedConfig {
			return nil
		}
		name = packagedEnvFile
		if err := readableFile(name); err != nil {
			return nil // not there, or not ours to read: the command runs without it
		}
	}
	if name == "" {
		return nil // --env-file "": none
	}
	data, err := readSecretFile("--env-file", name, maxEnvFile)
	if err != nil {
		return err
	}
	vars, err := parseEnvFile(string(data))
	if err != nil {
		return fmt.Errorf("--env-file %s: %w", name, err)
	}
	for _, v := range vars {
		if _, set := os.LookupEnv(v.key); set {
			continue
		}
		if err := os.Setenv(v.key, v.value); err != nil {
			return fmt.Errorf("--env-file %s: line %d: %w", name, v.line, err)
		}
		if err := setFlagFromEnv(c, v.key, v.value); err != nil {
			return fmt.Errorf("--env-file %s: line %d: %s: %w", name, v.line, v.key, err)
		}
	}
	return nil
}

// readableFile says why name cannot be read by this process, or nil.
func readableFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	return f.Close()
}

// setFlagFromEnv sets the flag of c's command whose variable key is, as
// urfave/cli would have had the variable been set at the start; a flag
// given on the command line wins.
func setFlagFromEnv(c *cli.Context, key, value string) error {
	for _, f := range c.Command.Flags {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok || !slices.Contains(df.GetEnvVars(), key) || c.IsSet(f.Names()[0]) {
			continue
		}
		return c.Set(f.Names()[0], value)
	}
	return nil
}

// envVar is one assignment of an environment file.
type envVar struct {
	key, value string
	line       int
}

// parseEnvFile reads KEY=VALUE lines as systemd's EnvironmentFile= does:
// blank lines and lines starting with # or ; are comments; whitespace
// around the key and the value is dropped; a value in double quotes takes
// \" \\ \$ and \` escapes, one in single quotes is literal; a line ending
// in a backslash goes on with the next. An error names the line, never the
// value: it may be a secret.
func parseEnvFile(data string) ([]envVar, error) {
	var out []envVar
	lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := lines[i]
		for strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + lines[i]
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !validEnvName(key) {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, as in AWS_ACCESS_KEY_ID=... (no export, no spaces in the name)", n)
		}
		value, err := unquoteEnvValue(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, key, err)
		}
		out = append(out, envVar{key: key, value: value, line: n})
	}
	return out, nil
}

// validEnvName: letters, digits and underscores, not starting with a digit.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

var errUnclosedQuote = errors.New("a quote is not closed: close it on the same line")

// unquoteEnvValue removes a value's quotes, as systemd does.
func unquoteEnvValue(v string) (string, error) {
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		return v, nil
	}
	q := v[0]
	if len(v) < 2 || v[len(v)-1] != q {
		return "", errUnclosedQuote
	}
	inner := v[1 : len(v)-1]
	if q == '\'' {
		return inner, nil
	}
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		if inner[i] == '\\' && i+1 < len(inner) && strings.IndexByte("\"\\$`", inner[i+1]) >= 0 {
			i++
		} else if inner[i] == '"' {
			return "", errUnclosedQuote
		}
		b.WriteByte(inner[i])
	}
	return b.String(), nil
}
