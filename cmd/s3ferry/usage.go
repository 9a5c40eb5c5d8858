package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// helpArgs turns `s3ferry help [COMMAND [SUBCOMMAND]]` into
// `s3ferry [COMMAND [SUBCOMMAND]] --help`: one way to print help, which
// exits 0, and an unknown COMMAND is then reported as any unknown command.
// help is not a command, so completion never offers it.
func helpArgs(args []string) []string {
	if len(args) < 2 || args[1] != "help" {
		return args
	}
	return append(slices.Clone(append(args[:1:1], args[2:]...)), "--help")
}

// unknownCommand is the app's Action: no argument prints the help, any
// other is a command s3ferry does not have.
func unknownCommand(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.ShowAppHelp(c)
	}
	name := c.Args().First()
	hint := ""
	if near := nearestCommand(c.App.VisibleCommands(), name); near != "" {
		hint = fmt.Sprintf(": did you mean %q?", near)
	}
	return usageError{fmt.Errorf("unknown command %s%s (s3ferry help lists the commands)", strconv.Quote(name), hint)}
}

// nearestCommand is the name in cmds closest to name, if at most two edits
// away and fewer than name's length, or "".
func nearestCommand(cmds []*cli.Command, name string) string {
	best, bestDist := "", 3
	for _, c := range cmds {
		for _, n := range c.Names() {
			if d := editDistance(name, n); d < bestDist && d < len(name) {
				best, bestDist = c.Name, d
			}
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// flagsBeforeCommand refuses a command's flag given before the command
// (`s3ferry --config F status`, restic's order) and says where it goes:
// s3ferry's flags all belong to a command. Moving them silently could take
// a flag's value for the command. The app's own --help and --version stay
// where they are.
func flagsBeforeCommand(app *cli.App, args []string) error {
	if len(args) < 2 || !strings.HasPrefix(args[1], "-") || isAppFlag(args[1]) {
		return nil
	}
	at := slices.IndexFunc(args[1:], func(a string) bool { return app.Command(a) != nil })
	if at < 0 {
		return nil
	}
	at++
	cmd := app.Command(args[at])
	fixed := append(append([]string{app.Name, args[at]}, args[1:at]...), args[at+1:]...)
	return usageError{fmt.Errorf("%s is a flag of %s: put it after the command: %s",
		strings.SplitN(args[1], "=", 2)[0], cmd.Name, shellLine(fixed))}
}

// isAppFlag: the flags s3ferry itself takes before any command.
func isAppFlag(arg string) bool {
	name := strings.SplitN(strings.TrimLeft(arg, "-"), "=", 2)[0]
	return slices.Contains(cli.HelpFlag.Names(), name) || slices.Contains(cli.VersionFlag.Names(), name) ||
		name == cli.BashCompletionFlag.Names()[0]
}

// shellLine is args as one would type them: a word with anything but
// letters, digits and -_./:=@%+, quoted.
func shellLine(args []string) string {
	words := make([]string, len(args))
	for i, a := range args {
		plain := a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
		}) < 0
		if plain {
			words[i] = a
		} else {
			words[i] = strconv.Quote(a)
		}
	}
	return strings.Join(words, " ")
}

// swappedArgs says "did you swap them?" when SRC looks like the bucket and
// DEST like a path: `s3ferry sync s3://b/p /data`.
func swappedArgs(c *cli.Context, src, dest string) error {
	if !strings.HasPrefix(src, "s3://") || strings.HasPrefix(dest, "s3://") {
		return nil
	}
	return usageError{fmt.Errorf("SRC %s is a bucket and DEST %s a path: did you swap them? %s SOURCE s3://BUCKET/PREFIX/",
		strconv.Quote(src), strconv.Quote(dest), c.Command.HelpName)}
}

// suggest is a command line for the user to run next, as one would type
// it: s3ferry, command (its words: "verify", "index rebuild"), the user's
// SRC DEST, every flag the user gave c's command that command takes too
// (--config, --index-dir, --deep ...: so the line works on the same
// configuration, index and bucket), then extra. Every command line an
// error or a report suggests is built here.
func suggest(c *cli.Context, command string, extra ...string) string {
	words := strings.Fields(command)
	args := append([]string{c.App.Name}, words...)
	args = append(args, c.Args().Slice()...)
	target := c.App.Command(words[0])
	for _, w := range words[1:] {
		if target != nil {
			target = target.Command(w)
		}
	}
	takes := map[string]bool{}
	if target != nil {
		for _, f := range target.Flags {
			takes[f.Names()[0]] = true
		}
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if !takes[name] || !c.IsSet(name) || slices.Contains(extra, "--"+name) {
			continue
		}
		switch f.(type) {
		case *cli.BoolFlag:
			if c.Bool(name) {
				args = append(args, "--"+name)
			}
		case *cli.StringSliceFlag:
			for _, v := range c.StringSlice(name) {
				args = append(args, "--"+name, v)
			}
		default:
			args = append(args, "--"+name, c.String(name))
		}
	}
	return shellLine(append(args, extra...))
}
