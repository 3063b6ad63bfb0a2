/**
 * The bash completion script (bash `complete -F`, Programmable Completion in the bash manual): commands,
 * group sub-commands, each command's flags, flag values (choices, files) and connection names asked from
 * `pcigate completion --connections` when the command's first argument is a connection.
 */
import type { CompletionCommand, CompletionFlag, CompletionModel } from './completion-model.js';
import { groupWords, topWords } from './completion-model.js';

function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function flagWords(flags: CompletionFlag[]): string {
  return flags.flatMap((f) => f.names).join(' ');
}

function valueCases(all: CompletionFlag[]): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const f of all) {
    if (!f.value) continue;
    const names = f.names.filter((n) => !seen.has(n));
    if (names.length === 0) continue;
    names.forEach((n) => seen.add(n));
    const action = f.choices.length
      ? `COMPREPLY=( $(compgen -W ${sq(f.choices.join(' '))} -- "$cur") )`
      : f.file ? 'COMPREPLY=( $(compgen -f -- "$cur") )' : 'COMPREPLY=()';
    lines.push(`        ${names.join('|')}) ${action}; return 0 ;;`);
  }
  return lines;
}

function commandCase(c: CompletionCommand, globals: CompletionFlag[]): string {
  return [
    `      ${sq(c.name)})`,
    `        flags=${sq(`${flagWords(c.flags)} ${flagWords(globals)}`.trim())}`,
    `        conn=${c.connectionArg ? 1 : 0}`,
    `        case "$prev" in`,
    ...valueCases([...c.flags, ...globals]),
    '        esac ;;',
  ].join('\n');
}

/** Renders the bash script. */
export function bashCompletion(m: CompletionModel): string {
  const groups = groupWords(m);
  const tops = topWords(m).map((t) => t.word).join(' ');
  return `# bash completion for pcigate (generated from the command registry by \`pcigate completion bash\`; do not edit)
# Install: pcigate completion bash > ~/.local/share/bash-completion/completions/pcigate

_pcigate() {
  local cur prev cmd="" i w words_after=0 flags="" conn=0
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # Find the command (one word, or group + sub-command) among the words before the cursor.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      --config|--home) (( i++ )); continue ;;
      -*) continue ;;
    esac
    if [[ -z "$cmd" ]]; then
      cmd="$w"
    elif [[ "$cmd" != *" "* ]] && [[ " ${[...groups.keys()].join(' ')} " == *" $cmd "* ]]; then
      cmd="$cmd $w"
    else
      (( words_after++ ))
    fi
  done
  if [[ -z "$cmd" ]]; then
    case "$prev" in
      --config|--home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
    esac
    if [[ "$cur" == -* ]]; then
      COMPREPLY=( $(compgen -W '${flagWords(m.globals)} --version' -- "$cur") )
    else
      COMPREPLY=( $(compgen -W ${sq(tops)} -- "$cur") )
    fi
    return 0
  fi
  case "$cmd" in
${[...groups].map(([g, members]) => `    ${sq(g)}) COMPREPLY=( $(compgen -W ${sq(members.map((c) => c.name.slice(g.length + 1)).join(' '))} -- "$cur") ); return 0 ;;`).join('\n')}
    help) COMPREPLY=( $(compgen -W ${sq(tops)} -- "$cur") ); return 0 ;;
  esac
  case "$cmd" in
${m.commands.map((c) => commandCase(c, m.globals)).join('\n')}
    *) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
  elif [[ $conn == 1 && $words_after == 0 ]]; then
    COMPREPLY=( $(compgen -W "$(pcigate completion --connections 2>/dev/null)" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
  return 0
}
complete -F _pcigate pcigate
`;
}
