/**
 * The zsh completion script (zsh completion system, `#compdef` autoload function): the same logic as the
 * bash script, with descriptions through `_describe`. Works from $fpath or via `source <(pcigate completion zsh)`.
 */
import type { CompletionCommand, CompletionFlag, CompletionModel } from './completion-model.js';
import { groupWords, topWords } from './completion-model.js';

function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function described(word: string, desc: string): string {
  return sq(`${word.replace(/:/g, '\\:')}:${desc}`);
}

function flagEntries(flags: CompletionFlag[]): string {
  return flags.flatMap((f) => f.names.map((n) => described(n, f.description))).join(' ');
}

function valueCases(all: CompletionFlag[]): string[] {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const f of all) {
    if (!f.value) continue;
    const names = f.names.filter((n) => !seen.has(n));
    if (names.length === 0) continue;
    names.forEach((n) => seen.add(n));
    const action = f.choices.length ? `compadd -- ${f.choices.map(sq).join(' ')}` : f.file ? '_files' : 'return 0';
    lines.push(`        ${names.join('|')}) ${action}; return ;;`);
  }
  return lines;
}

function commandCase(c: CompletionCommand, globals: CompletionFlag[]): string {
  return [
    `      ${sq(c.name)})`,
    `        flags=( ${flagEntries([...c.flags, ...globals])} )`,
    `        conn=${c.connectionArg ? 1 : 0}`,
    '        case $prev in',
    ...valueCases([...c.flags, ...globals]),
    '        esac ;;',
  ].join('\n');
}

/** Renders the zsh script. */
export function zshCompletion(m: CompletionModel): string {
  const groups = groupWords(m);
  return `#compdef pcigate
# zsh completion for pcigate (generated from the command registry by \`pcigate completion zsh\`; do not edit)
# Install: pcigate completion zsh > "\${fpath[1]}/_pcigate"   (or: source <(pcigate completion zsh))

_pcigate() {
  local cmd="" w i n=0 conn=0
  local -a flags cmds subs conns
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]}
  for (( i = 2; i < CURRENT; i++ )); do
    w=\${words[i]}
    case $w in
      --config|--home) (( i++ )); continue ;;
      -*) continue ;;
    esac
    if [[ -z $cmd ]]; then
      cmd=$w
    elif [[ $cmd != *" "* && " ${[...groups.keys()].join(' ')} " == *" $cmd "* ]]; then
      cmd="$cmd $w"
    else
      (( n++ ))
    fi
  done
  if [[ -z $cmd ]]; then
    case $prev in
      --config|--home) _files; return ;;
    esac
    if [[ $cur == -* ]]; then
      flags=( ${flagEntries(m.globals)} '--version:print the version' )
      _describe 'option' flags
    else
      cmds=( ${topWords(m).map((t) => described(t.word, t.summary)).join(' ')} )
      _describe 'command' cmds
    fi
    return
  fi
  case $cmd in
${[...groups].map(([g, members]) => `    ${sq(g)}) subs=( ${members.map((c) => described(c.name.slice(g.length + 1), c.summary)).join(' ')} ); _describe ${sq(`${g} command`)} subs; return ;;`).join('\n')}
    help) cmds=( ${topWords(m).map((t) => described(t.word, t.summary)).join(' ')} ); _describe 'command' cmds; return ;;
  esac
  case $cmd in
${m.commands.map((c) => commandCase(c, m.globals)).join('\n')}
    *) _files; return ;;
  esac
  if [[ $cur == -* ]]; then
    _describe 'option' flags
  elif (( conn == 1 && n == 0 )); then
    conns=( \${(f)"$(pcigate completion --connections 2>/dev/null)"} )
    compadd -a conns
  else
    _files
  fi
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _pcigate "$@"
else
  compdef _pcigate pcigate
fi
`;
}
