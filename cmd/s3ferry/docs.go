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

# FILES

*/etc/s3ferry/s3ferry.yml* the service's configuration; */var/lib/s3ferry* its
index; */usr/share/s3ferry/monitoring/* Prometheus alert rules and a Grafana
dashboard; */usr/share/doc/s3ferry/README.md* and *docs/* the full documentation.`

// newDocsCommand is the hidden `s3ferry docs man`: the man page, generated
// from the command definitions; make docs runs it. The completions come
// from `s3ferry completion`.
func newDocsCommand() *cli.Command {
	return &cli.Command{
		Name:      "docs",
		Hidden:    true,
		Usage:     "print the man page (man), for make docs",
		ArgsUsage: "man",
		Action: func(c *cli.Context) error {
			if c.Args().First() != "man" {
				return usageError{fmt.Errorf("docs %q: want man", c.Args().First())}
			}
			_, err := io.WriteString(c.App.Writer, manPage())
			return err
		},
	}
}

// manPage is s3ferry.1, written as roff here rather than through
// urfave/cli's Markdown, which read "*.part" as emphasis: every text it
// did not write is escaped (roffText); only manDescription has markup.
func manPage() string {
	app := newApp(io.Discard, io.Discard)
	var b strings.Builder
	b.WriteString(".TH S3FERRY 1\n.nh\n.ad l\n.SH NAME\ns3ferry \\- " + roffText(app.Usage) + "\n.SH SYNOPSIS\n")
	for _, cmd := range app.VisibleCommands() {
		synopsis(&b, "s3ferry", cmd)
	}
	b.WriteString(".SH DESCRIPTION\n")
	sections := strings.SplitN(manDescription, "\n# ", 2)
	roffMarkdown(&b, sections[0])
	b.WriteString(".SH COMMANDS\n")
	for _, cmd := range app.VisibleCommands() {
		manCommand(&b, "s3ferry", cmd)
	}
	if len(sections) > 1 {
		roffMarkdown(&b, "# "+sections[1])
	}
	b.WriteString(".SH EXIT STATUS\n")
	for _, e := range exitStatuses {
		fmt.Fprintf(&b, ".TP\n.B %d\n%s\n", e.code, roffText(e.meaning))
	}
	return b.String()
}

// synopsis writes one line of SYNOPSIS per command that runs something.
func synopsis(b *strings.Builder, parent string, cmd *cli.Command) {
	name := parent + " " + cmd.Name
	if subs := cmd.VisibleCommands(); len(subs) > 0 {
		for _, sub := range subs {
			synopsis(b, name, sub)
		}
		return
	}
	fmt.Fprintf(b, ".B %s\n", roffText(name))
	if len(cmd.VisibleFlags()) > 0 {
		b.WriteString("[\\fIoptions\\fR]")
		if cmd.ArgsUsage != "" {
			b.WriteString(" " + roffText(cmd.ArgsUsage))
		}
		b.WriteString("\n")
	} else if cmd.ArgsUsage != "" {
		b.WriteString(roffText(cmd.ArgsUsage) + "\n")
	}
	b.WriteString(".br\n")
}

// manCommand writes cmd's subsection: usage, description and flags, each
// flag with its default (when it has one) and its environment variable.
func manCommand(b *strings.Builder, parent string, cmd *cli.Command) {
	name := parent + " " + cmd.Name
	fmt.Fprintf(b, ".SS %s\n%s\n", roffText(strings.TrimSpace(name+" "+cmd.ArgsUsage)), roffText(cmd.Usage))
	if cmd.Description != "" {
		b.WriteString(".PP\n")
		roffParagraphs(b, cmd.Description)
	}
	for _, f := range cmd.VisibleFlags() {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		placeholder, usage := unquoteUsage(df.GetUsage())
		var names []string
		for _, n := range df.Names() {
			dash := "\\-"
			if len(n) > 1 {
				dash = "\\-\\-"
			}
			names = append(names, "\\fB"+dash+roffText(n)+"\\fR")
		}
		head := strings.Join(names, ", ")
		if df.TakesValue() {
			if placeholder == "" {
				placeholder = "value"
			}
			head += " \\fI" + roffText(placeholder) + "\\fR"
		}
		text := usage
		if _, isBool := f.(*cli.BoolFlag); !isBool && df.TakesValue() {
			if d := df.GetDefaultText(); d != "" && d != `""` {
				text += " (default: " + d + ")"
			}
		}
		if env := df.GetEnvVars(); len(env) > 0 {
			text += " [$" + strings.Join(env, ", $") + "]"
		}
		fmt.Fprintf(b, ".TP\n%s\n%s\n", head, roffText(text))
	}
	for _, sub := range cmd.VisibleCommands() {
		manCommand(b, name, sub)
	}
}

// roffText escapes s for roff: backslashes and dashes, and a leading dot or
// quote that would make a line a request.
func roffText(s string) string {
	s = strings.NewReplacer("\\", "\\e", "-", "\\-").Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = "\\&" + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffParagraphs writes text whose paragraphs are separated by blank lines
// and whose indented lines are examples, shown as written.
func roffParagraphs(b *strings.Builder, text string) {
	inExample := false
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		example := strings.HasPrefix(line, "  ")
		switch {
		case example && !inExample:
			b.WriteString(".PP\n.EX\n")
		case !example && inExample && strings.TrimSpace(line) != "":
			b.WriteString(".EE\n")
		}
		if strings.TrimSpace(line) == "" {
			if !inExample {
				b.WriteString(".PP\n")
			} else {
				b.WriteString("\n")
			}
			continue
		}
		inExample = example
		b.WriteString(roffText(line) + "\n")
	}
	if inExample {
		b.WriteString(".EE\n")
	}
}

// roffMarkdown writes manDescription's sections: "# NAME" headings,
// **bold** and *italic* words, otherwise as roffParagraphs.
func roffMarkdown(b *strings.Builder, text string) {
	for _, sec := range strings.Split("\n"+text, "\n# ") {
		if strings.TrimSpace(sec) == "" {
			continue
		}
		if head, body, ok := strings.Cut(sec, "\n"); ok && head != "" && head == strings.ToUpper(head) && !strings.Contains(head, ".") {
			fmt.Fprintf(b, ".SH %s\n", head)
			sec = body
		}
		var sb strings.Builder
		roffParagraphs(&sb, sec)
		out := sb.String()
		out = emphasis(out, "**", "\\fB", "\\fR")
		out = emphasis(out, "*", "\\fI", "\\fR")
		b.WriteString(out)
	}
}

// emphasis replaces pairs of mark around a word or words with on and off.
func emphasis(s, mark, on, off string) string {
	parts := strings.Split(s, mark)
	if len(parts)%2 == 0 {
		return s
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			if i%2 == 1 {
				b.WriteString(on)
			} else {
				b.WriteString(off)
			}
		}
		b.WriteString(p)
	}
	return b.String()
}

// unquoteUsage is urfave/cli's rule: a `NAME` in a flag's usage is the
// placeholder of its value, shown without the quotes.
func unquoteUsage(usage string) (placeholder, text string) {
	i := strings.Index(usage, "`")
	if i < 0 {
		return "", usage
	}
	j := strings.Index(usage[i+1:], "`")
	if j < 0 {
		return "", usage
	}
	placeholder = usage[i+1 : i+1+j]
	return placeholder, usage[:i] + placeholder + usage[i+1+j+1:]
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
