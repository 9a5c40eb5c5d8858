package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks the binary being completed for the words
// (--generate-bash-completion) and needs nothing of the bash-completion
// package. Without -o nospace, bash adds the space after a command.
const bashCompletion = `# bash completion for s3ferry: source <(s3ferry completion bash)
_s3ferry_complete() {
    local cur=${COMP_WORDS[COMP_CWORD]} opts IFS=$'\n'
    local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
    if [[ $cur == -* ]]; then
        opts=$("${words[0]}" "${words[@]:1}" "$cur" --generate-bash-completion 2>/dev/null)
    else
        opts=$("${words[0]}" "${words[@]:1}" --generate-bash-completion 2>/dev/null)
    fi
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o bashdefault -o default -F _s3ferry_complete s3ferry
`

// zshCompletion works as a file in $fpath and sourced after compinit.
const zshCompletion = `#compdef s3ferry
# zsh completion for s3ferry: source <(s3ferry completion zsh), after compinit
_s3ferry() {
  local -a opts
  local cur=${words[-1]}
  if [[ $cur == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ ${opts[1]} != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
  _s3ferry "$@"
else
  compdef _s3ferry s3ferry
fi
`

// newCompletionCommand is `s3ferry completion bash|zsh|fish`: the script
// the packages install, for those who install by go install.
func newCompletionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `Prints the script; load it in the shell's startup file:

    bash:  source <(s3ferry completion bash)            (~/.bashrc)
    zsh:   source <(s3ferry completion zsh)             (~/.zshrc, after compinit)
    fish:  s3ferry completion fish | source             (~/.config/fish/config.fish)

The packages install the same scripts where each shell finds them.`,
		Action: func(c *cli.Context) error {
			out, err := completionScript(c.Args().First())
			if err != nil {
				return err
			}
			_, err = io.WriteString(c.App.Writer, out)
			return err
		},
	}
}

// completionScript is shell's completion script.
func completionScript(shell string) (string, error) {
	switch shell {
	case "bash":
		return bashCompletion, nil
	case "zsh":
		return zshCompletion, nil
	case "fish":
		out, err := newApp(io.Discard, io.Discard).ToFishCompletion()
		if err != nil {
			return "", fmt.Errorf("completion fish: %w", err)
		}
		return out, nil
	default:
		return "", usageError{fmt.Errorf("completion %q: want bash, zsh or fish", shell)}
	}
}
