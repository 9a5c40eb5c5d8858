// Command s3ferry keeps an S3 bucket up to date with local trees that only
// grow. See README.md, or run s3ferry help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/s3ferry/s3ferry/agent"
	"github.com/s3ferry/s3ferry/agent/bucket"
	"github.com/s3ferry/s3ferry/agent/local"
	"github.com/s3ferry/s3ferry/index"
	"github.com/s3ferry/s3ferry/uploader"
)

// Exit codes, in one place. exitStatuses says what each means, for the man
// page's EXIT STATUS; README.md documents them.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitFilesFailed = 3
	exitLocked      = 4
	exitProblems    = 5
	exitConfig      = 78
	exitInterrupted = 130
)

// exitStatuses is every exit code with its meaning, in order.
var exitStatuses = []struct {
	code    int
	meaning string
}{
	{exitOK, "everything found was uploaded or unchanged"},
	{exitError, "the run stopped: S3, network, index or disk error"},
	{exitUsage, "bad flags, arguments or configuration; nothing was done"},
	{exitFilesFailed, "the run finished, but some files failed (each is logged)"},
	{exitLocked, "another s3ferry holds the index"},
	{exitProblems, "doctor found an error, or verify a problem it did not repair"},
	{exitConfig, "run: bad flags, arguments or configuration; run and sync: a configuration file without sources (sysexits' EX_CONFIG); systemd does not restart it"},
	{exitInterrupted, "stopped by a signal before it finished"},
}

// usageError marks an error in what the user asked for, as opposed to one
// met while doing it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// configError is a usageError of the daemon, `run`: systemd's unit does
// not restart it (RestartPreventExitStatus), while a crash, which exits 2
// as every Go panic does, is restarted.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// errFilesFailed is returned when a run completed with per-file failures.
var errFilesFailed = errors.New("some files failed")

// errProblems matches the end of a doctor or verify that found something
// to fix; a problemsError says what.
var errProblems = errors.New("problems found")

type problemsError struct{ msg string }

func (e problemsError) Error() string        { return e.msg }
func (e problemsError) Is(target error) bool { return target == errProblems }

// exitCode maps an error to the process's exit code.
func exitCode(err error) int {
	var ue usageError
	var ce configError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return exitConfig
	case errors.As(err, &ue), errors.Is(err, uploader.ErrInvalidBucketName):
		return exitUsage
	case errors.Is(err, errFilesFailed):
		return exitFilesFailed
	case errors.Is(err, index.ErrLocked):
		return exitLocked
	case errors.Is(err, errProblems):
		return exitProblems
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		return exitError
	}
}

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// The first SIGINT or SIGTERM asks the command to stop cleanly; a second
	// one exits at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(stderr, "s3ferry: second signal: exiting now; unfinished uploads resume at the next start")
		os.Exit(exitInterrupted)
	}()
	app := newApp(stdout, stderr)
	args = helpArgs(args)
	err := flagsBeforeCommand(app, args)
	if err == nil {
		err = app.RunContext(ctx, interspersed(app, args))
	}
	if err != nil && !errors.Is(err, errFilesFailed) {
		fmt.Fprintf(stderr, "s3ferry: %s\n", local.Printable(message(err)))
	}
	return exitCode(err)
}

// message is err in one line. An index that is damaged or on a full disk
// says so alone: which record was being written when it was found does
// not help the reader, what to do does. A command stopped by a signal
// says "interrupted" (and what it left pending), not where the context's
// end surfaced ("... context canceled").
func message(err error) string {
	var damaged *index.DamagedError
	var full *index.DiskFullError
	var interrupted *agent.InterruptedError
	switch {
	case errors.As(err, &damaged):
		err = damaged
	case errors.As(err, &full):
		err = full
	case errors.As(err, &interrupted):
		return interrupted.Error()
	case errors.Is(err, context.Canceled):
		return "interrupted before it finished: run the command again to finish"
	}
	return bucket.OneLine(err)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	usage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{
		Name:            "s3ferry",
		Usage:           "keep an S3 bucket up to date with a local tree that only grows",
		Version:         versionString(),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			newSyncCommand(),
			newRunCommand(),
			newStatusCommand(),
			newVersionCommand(),
			newDoctorCommand(),
			newVerifyCommand(),
			newAdoptCommand(),
			newRestoreCommand(),
			newManifestCommand(),
			newIndexCommand(),
			newRetentionCommand(),
			newHoldCommand(),
			newConfigCommand(),
			newCompletionCommand(),
			newDocsCommand(),
		},
		// bash and zsh complete by asking the binary (the scripts make
		// packages installs run s3ferry ... --generate-bash-completion).
		EnableBashCompletion: true,
		// Errors are printed once, by run, and mapped to exit codes there.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usage,
		Action:         unknownCommand,
	}
	for _, c := range app.Commands {
		c.OnUsageError = usage
		for _, sub := range c.Subcommands {
			sub.OnUsageError = usage
		}
	}
	app.Command("run").OnUsageError = func(_ *cli.Context, err error, _ bool) error { return configError{err} }
	setEnvVars(app.Commands)
	hideBoolDefaults(app.Commands)
	suggestFixes(app.Commands)
	return app
}

// suggestFixes makes the index errors of every command of cmds (and their
// subcommands) suggest the command line that fixes them as the user would
// type it (suggest): a damaged index the `index rebuild` of the same
// configuration, index and bucket; an index the daemon holds the `status`
// that asks it, or, for a command that needs the index alone, the command
// itself to run while the daemon is stopped.
func suggestFixes(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *cli.Context) error {
				err := action(c)
				var damaged *index.DamagedError
				if errors.As(err, &damaged) && damaged.Rebuild == "" {
					damaged.Rebuild = suggest(c, "index rebuild")
				}
				var locked *index.LockedError
				if errors.As(err, &locked) && locked.Status == "" {
					locked.Status = suggest(c, "status")
				}
				var held *heldByDaemonError
				if errors.As(err, &held) && held.alone != "" && held.rerun == "" {
					held.rerun = suggest(c, commandName(c))
				}
				return err
			}
		}
		suggestFixes(cmd.Subcommands)
	}
}

// hideBoolDefaults leaves "(default: false)" out of every boolean flag's
// help: a switch is off unless given, and a usage that says what the
// default does ("default: skip them") would otherwise say it twice.
func hideBoolDefaults(cmds []*cli.Command) {
	for _, cmd := range cmds {
		for _, f := range cmd.Flags {
			if b, ok := f.(*cli.BoolFlag); ok {
				b.DisableDefaultText = true
			}
		}
		hideBoolDefaults(cmd.Subcommands)
	}
}

// setEnvVars gives every flag of cmds and their subcommands that has none
// the environment variable S3FERRY_<NAME> (--lookback: S3FERRY_LOOKBACK,
// --admin-listen: S3FERRY_ADMIN_LISTEN), in this one place rather than in
// each flag's definition. Help and man page show them.
func setEnvVars(cmds []*cli.Command) {
	for _, cmd := range cmds {
		for _, f := range cmd.Flags {
			env := flagField(f, "EnvVars")
			if !env.IsValid() || env.Len() > 0 {
				continue
			}
			name := "S3FERRY_" + strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
			env.Set(reflect.ValueOf([]string{name}))
		}
		setEnvVars(cmd.Subcommands)
	}
}

// interspersed moves a command's flags before its arguments, so that
// `s3ferry sync SRC DEST --lookback 48h` works: urfave/cli stops parsing
// flags at the first argument. A "--" ends the flags as usual.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmd := app.Command(args[1])
	if cmd == nil {
		return args
	}
	head := 2 // the program and the command, then any subcommands
	for head < len(args) && cmd.Command(args[head]) != nil {
		cmd = cmd.Command(args[head])
		head++
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	var flags, positional []string
	rest := args[head:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				flags = append(flags, rest[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append(slices.Clone(args[:head]), flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}

// newLogger builds the process's logger from --log-format and --log-level.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", format)
	}
}
