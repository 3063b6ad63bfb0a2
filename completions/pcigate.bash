# bash completion for pcigate (generated from the command registry by `pcigate completion bash`; do not edit)
# Install: pcigate completion bash > ~/.local/share/bash-completion/completions/pcigate

_pcigate() {
  local cur prev cmd="" i w words_after=0 flags="" conn=0
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  # Find the command (one word, or group + sub-command) among the words before the cursor.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    w="${COMP_WORDS[i]}"
    case "$w" in
      --config|--home) (( i++ )); continue ;;
      -*) continue ;;
    esac
    if [[ -z "$cmd" ]]; then
      cmd="$w"
    elif [[ "$cmd" != *" "* ]] && [[ " keys config policy evidence " == *" $cmd "* ]]; then
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
      COMPREPLY=( $(compgen -W '--config --home --json -q --quiet -h --help --version' -- "$cur") )
    else
      COMPREPLY=( $(compgen -W 'connect exec keys verify config approvals approve deny policy scan login whoami logout sessions replay demo completion doctor evidence help' -- "$cur") )
    fi
    return 0
  fi
  case "$cmd" in
    'keys') COMPREPLY=( $(compgen -W 'init show rotate' -- "$cur") ); return 0 ;;
    'config') COMPREPLY=( $(compgen -W 'check' -- "$cur") ); return 0 ;;
    'policy') COMPREPLY=( $(compgen -W 'explain' -- "$cur") ); return 0 ;;
    'evidence') COMPREPLY=( $(compgen -W 'verify' -- "$cur") ); return 0 ;;
    help) COMPREPLY=( $(compgen -W 'connect exec keys verify config approvals approve deny policy scan login whoami logout sessions replay demo completion doctor evidence help' -- "$cur") ); return 0 ;;
  esac
  case "$cmd" in
      'connect')
        flags='--port --bind --tls --listen --exec --config --home --json -q --quiet -h --help'
        conn=1
        case "$prev" in
        --port) COMPREPLY=(); return 0 ;;
        --bind) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'exec')
        flags='--sql -f --file --format --reason --id-token-env --config --home --json -q --quiet -h --help'
        conn=1
        case "$prev" in
        --sql) COMPREPLY=(); return 0 ;;
        -f|--file) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --format) COMPREPLY=( $(compgen -W 'table csv json' -- "$cur") ); return 0 ;;
        --reason) COMPREPLY=(); return 0 ;;
        --id-token-env) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'keys init')
        flags='--root-key-out --origin --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --root-key-out) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --origin) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'keys show')
        flags='--config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'keys rotate')
        flags='--config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'verify')
        flags='--root-key --state --proof --strict --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --root-key) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --state) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --proof) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'config check')
        flags='--resolve --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'approvals')
        flags='--all --watch --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'approve')
        flags='--reason --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --reason) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'deny')
        flags='--reason --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --reason) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'policy explain')
        flags='--as --subject --no-mfa --config --home --json -q --quiet -h --help'
        conn=1
        case "$prev" in
        --as) COMPREPLY=(); return 0 ;;
        --subject) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'scan')
        flags='--any-luhn --max-expanded --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --max-expanded) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'login')
        flags='--issuer --client-id --scope --browser --no-browser --token-store --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --issuer) COMPREPLY=(); return 0 ;;
        --client-id) COMPREPLY=(); return 0 ;;
        --scope) COMPREPLY=(); return 0 ;;
        --token-store) COMPREPLY=( $(compgen -W 'auto keychain file' -- "$cur") ); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'whoami')
        flags='--config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'logout')
        flags='--config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'sessions')
        flags='--since --until --user --conn --kind --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --since) COMPREPLY=(); return 0 ;;
        --until) COMPREPLY=(); return 0 ;;
        --user) COMPREPLY=(); return 0 ;;
        --conn) COMPREPLY=(); return 0 ;;
        --kind) COMPREPLY=( $(compgen -W 'postgres ssh exec' -- "$cur") ); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'replay')
        flags='--speed --idle-limit --strict --html --force --raw --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --speed) COMPREPLY=(); return 0 ;;
        --idle-limit) COMPREPLY=(); return 0 ;;
        --html) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'demo')
        flags='--script --local-identity --as --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --as) COMPREPLY=( $(compgen -W 'dana sam' -- "$cur") ); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'completion')
        flags='--connections --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'doctor')
        flags='--config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'evidence')
        flags='--req --out --force --since --until --sample --oscal --root-key --max-expanded --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --req) COMPREPLY=(); return 0 ;;
        --out) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --since) COMPREPLY=(); return 0 ;;
        --until) COMPREPLY=(); return 0 ;;
        --sample) COMPREPLY=(); return 0 ;;
        --root-key) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --max-expanded) COMPREPLY=(); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
      'evidence verify')
        flags='--root-key --config --home --json -q --quiet -h --help'
        conn=0
        case "$prev" in
        --root-key) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --config) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        --home) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
        esac ;;
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
