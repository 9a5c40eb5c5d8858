package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/urfave/cli/v2"
)

// manDescription is the man page's text beyond the commands: sections in
// the Markdown that urfave/cli turns into roff.
const manDescription = `s3ferry keeps an S3 bucket up to date with local directory trees that only
grow (call recordings, camera footage, scans, logs in date-named folders). A
local index of what was uploaded makes every run cost what changed, never what
is already backed up. **sync** uploads once; **run** is the daemon that uploads
each new file seconds after it is written; **status**, **doctor**, **verify**,
**adopt**, **restore** and **manifest** look after the bucket side.

Examples:

    1. First backup, then the same command from cron or a timer:
       s3ferry sync /home/archive/RECORDINGS s3://call-recording-backup/recordings/ --partition-layout 2006-01-02
    2. The daemon, as the systemd unit runs it:
       s3ferry run --config /etc/s3ferry/s3ferry.yml
    3. What it is doing:
       s3ferry status --config /etc/s3ferry/s3ferry.yml

# ENVIRONMENT

Every flag can also be set by an environment variable named **S3FERRY_** and
the flag's name in capitals with dashes as underscores: **--lookback** is
**S3FERRY_LOOKBACK**, **--admin-listen** is **S3FERRY_ADMIN_LISTEN**. A flag
on the command line wins over the variable, which wins over the configuration
file. Credentials come from the AWS SDK's chain only: **AWS_ACCESS_KEY_ID**,
**AWS_SECRET_ACCESS_KEY**, **AWS_PROFILE**, **AWS_REGION**, **AWS_ENDPOINT_URL**,
**AWS_CA_BUNDLE**, an instance role. Under systemd, **NOTIFY_SOCKET** and
**WATCHDOG_USEC** turn on readiness, status and watchdog notifications.

# EXIT STATUS

**0** everything found was uploaded or unchanged; **1** the run stopped (S3,
network, index or disk error); **2** bad flags, arguments or configuration;
**3** some files failed (each is logged); **4** another s3ferry holds the index;
**5** doctor or verify found a problem; **130** interrupted by a signal.

# FILES

*/etc/s3ferry/s3ferry.yml* the service's configuration; */var/lib/s3ferry* its
index; */usr/share/s3ferry/monitoring/* Prometheus alert rules and a Grafana
dashboard; */usr/share/doc/s3ferry/README.md* the full documentation.`

// newDocsCommand is the hidden `s3ferry docs man|fish`: the man page and the
// fish completion, generated from the command definitions. make packages
// runs it; bash and zsh complete through --generate-bash-completion.
func newDocsCommand() *cli.Command {
	return &cli.Command{
		Name:      "docs",
		Hidden:    true,
		Usage:     "print the man page (man) or the fish completion (fish), for make packages",
		ArgsUsage: "man|fish",
		Action: func(c *cli.Context) error {
			var out string
			var err error
			switch c.Args().First() {
			case "man":
				out, err = manPage()
			case "fish":
				out, err = newApp(io.Discard, io.Discard).ToFishCompletion()
			default:
				return usageError{fmt.Errorf("docs %q: want man or fish", c.Args().First())}
			}
			if err != nil {
				return fmt.Errorf("docs %s: %w", c.Args().First(), err)
			}
			_, err = io.WriteString(c.App.Writer, out)
			return err
		},
	}
}

// manPage is s3ferry.1: a fresh app dressed for the page, each command with
// its description and examples, each flag with its environment variable.
func manPage() (string, error) {
	app := newApp(io.Discard, io.Discard)
	app.Description = manDescription
	var dress func(cmds []*cli.Command)
	dress = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.Description != "" {
				cmd.UsageText = cmd.Description // urfave/cli's man page shows UsageText, not Description
			}
			for _, f := range cmd.Flags {
				df, ok := f.(cli.DocGenerationFlag)
				usage := flagField(f, "Usage")
				if !ok || !usage.IsValid() || len(df.GetEnvVars()) == 0 {
					continue
				}
				usage.SetString(fmt.Sprintf("%s [$%s]", usage.String(), strings.Join(df.GetEnvVars(), ", $")))
			}
			dress(cmd.Subcommands)
		}
	}
	dress(app.Commands)
	return app.ToManWithSection(1)
}

// flagField is the settable field name of the flag struct f points to, or
// the zero Value. urfave/cli's flag types share these fields but no setter.
func flagField(f cli.Flag, name string) reflect.Value {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	field := v.Elem().FieldByName(name)
	if !field.CanSet() {
		return reflect.Value{}
	}
	return field
}
