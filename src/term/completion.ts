// Shell completion for aptgate and aptgate-agent: bash and zsh scripts generated from the
// commander definitions themselves (subcommands, options per command, what a value is), so the
// completion never drifts from the real command line. Used by `aptgate completion` and
// `aptgate-agent completion`; the Debian packages install the scripts generated at build time.
import { Argument, Help, Option, type Command } from 'commander';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** What a value is: free text, a file, a directory, NAME=FILE, or one of fixed words. */
export type ValueKind =
  | { kind: 'text' | 'file' | 'dir' | 'keyfile'; name: string }
  | { kind: 'choice'; name: string; values: readonly string[] };

export interface CompletionOption {
  /** e.g. ['-c', '--config'] */
  flags: string[];
  description: string;
  /** undefined: a flag without a value */
  value: ValueKind | undefined;
  /** takes the following words up to the next option (`<name...>`) */
  variadic: boolean;
  /** may be given more than once */
  repeatable: boolean;
}

export interface CompletionArgument {
  name: string;
  description: string;
  required: boolean;
  variadic: boolean;
  value: ValueKind;
}

export interface CompletionNode {
  /** [] for the program itself, ['cache', 'verify'] */
  path: string[];
  description: string;
  commands: CompletionNode[];
  /** its own options and those of its ancestors (commander accepts them after the subcommand too) */
  options: CompletionOption[];
  args: CompletionArgument[];
}

// values the completion offers where the command checks them itself (its own error message)
const offered = new WeakMap<Option | Argument, readonly string[]>();

/** Offers `values` for an option's or argument's value in the completion scripts (not checked by commander). */
export function offer<T extends Option | Argument>(x: T, values: readonly string[]): T {
  offered.set(x, values);
  return x;
}

const WORD = /^[A-Za-z0-9][A-Za-z0-9_.+:-]*$/;
const FLAG = /^--?[A-Za-z0-9][A-Za-z0-9-]*$/;

function safe(word: string, re: RegExp, what: string): string {
  // the scripts quote nothing but descriptions: a name that needs quoting is a programming error
  if (!re.test(word)) throw new Error(`completion: ${what} ${JSON.stringify(word)} cannot be completed safely`);
  return word;
}

/** The value kind from the placeholder: <file>, <file...>, <file|dir>, <dir>, <name=file>, anything else is text. */
function kindOf(placeholder: string, values: readonly string[] | undefined): ValueKind {
  const name = placeholder.replace(/\.\.\.$/, '');
  if (values) return { kind: 'choice', name, values: values.map((v) => safe(v, WORD, 'value')) };
  if (name === 'file' || name === 'file|dir') return { kind: 'file', name };
  if (name === 'dir') return { kind: 'dir', name };
  if (/=file$/.test(name)) return { kind: 'keyfile', name };
  return { kind: 'text', name };
}

function optionOf(o: Option): CompletionOption {
  // "--backend <name=url[,url...]>": what follows the flags, without its outer brackets
  const placeholder =
    o.required || o.optional ? o.flags.slice(o.flags.search(/[<[]/)).replace(/^[<[]|[>\]]$/g, '') : undefined;
  const flags = [o.short, o.long].filter((f): f is string => f !== undefined).map((f) => safe(f, FLAG, 'option'));
  return {
    flags,
    description: o.description,
    value: placeholder === undefined ? undefined : kindOf(placeholder, o.argChoices ?? offered.get(o)),
    variadic: o.variadic,
    // a repeatable option accumulates through its own parser (collect)
    repeatable: o.variadic || o.parseArg !== undefined,
  };
}

function nodeOf(cmd: Command, path: string[], inherited: CompletionOption[], help: Help): CompletionNode {
  const own = help.visibleOptions(cmd).map(optionOf);
  const seen = new Set(own.flatMap((o) => o.flags));
  const options = [...own, ...inherited.filter((o) => !o.flags.some((f) => seen.has(f)))];
  // what subcommands inherit: every option but help and version
  const passOn = options.filter((o) => !o.flags.some((f) => f === '--help' || f === '--version'));
  const subs = help.visibleCommands(cmd);
  const siblings = subs.map((c) => c.name()).filter((n) => n !== 'help');
  return {
    path,
    description: cmd.description(),
    commands: subs.map((c) => {
      const name = safe(c.name(), WORD, 'command');
      // the implicit `help [command]` completes its siblings
      if (name === 'help' && !cmd.commands.includes(c)) {
        return {
          path: [...path, name],
          description: c.description(),
          commands: [],
          options: [],
          args: [
            {
              name: 'command',
              description: 'the command',
              required: false,
              variadic: false,
              value: { kind: 'choice', name: 'command', values: siblings },
            },
          ],
        };
      }
      return nodeOf(c, [...path, name], passOn, help);
    }),
    options,
    args: cmd.registeredArguments.map((a) => ({
      name: safe(a.name(), WORD, 'argument'),
      description: a.description,
      required: a.required,
      variadic: a.variadic,
      value: kindOf(a.name(), a.argChoices ?? offered.get(a)),
    })),
  };
}

/** The command tree of `program` as the completion scripts need it. */
export function completionTree(program: Command): CompletionNode {
  return nodeOf(program, [], [], new Help());
}

/** Every node of the tree, the program first. */
export function allNodes(root: CompletionNode): CompletionNode[] {
  return [root, ...root.commands.flatMap(allNodes)];
}

export function completionScript(program: Command, shell: Shell): string {
  const tree = completionTree(program);
  const name = safe(program.name(), WORD, 'program');
  return shell === 'bash' ? bashScript(name, tree) : zshScript(name, tree);
}

// ---- bash ----

/** f file, d directory, k NAME=FILE, c:a,b choices, t text; a trailing + marks a variadic option. */
function bashKind(v: ValueKind): string {
  switch (v.kind) {
    case 'file':
      return 'f';
    case 'dir':
      return 'd';
    case 'keyfile':
      return 'k';
    case 'choice':
      return `c:${v.values.join(',')}`;
    case 'text':
      return 't';
  }
}

function bashScript(program: string, tree: CompletionNode): string {
  const fn = `_${program.replace(/[^A-Za-z0-9]/g, '_')}`;
  const specs = allNodes(tree).map((n) => {
    const vals = n.options
      .filter((o) => o.value)
      .flatMap((o) => o.flags.map((f) => `${f}=${bashKind(o.value!)}${o.variadic ? '+' : ''}`));
    const args = n.args.map((a) => `${bashKind(a.value)}${a.variadic ? '*' : ''}`);
    return [
      `    '${n.path.join(' ')}')`,
      `      cmds='${n.commands.map((c) => c.path.at(-1)).join(' ')}'`,
      `      opts='${n.options.flatMap((o) => o.flags).join(' ')}'`,
      `      vals=' ${vals.join(' ')} '`,
      `      args='${args.join(' ')}' ;;`,
    ].join('\n');
  });
  return `# bash completion for ${program}: generated by \`${program} completion bash\` from its commands
# (installed as /usr/share/bash-completion/completions/${program}; in a checkout:
# source <(${program} completion bash))

# sets cmds (subcommands), opts (options), vals (" OPTION=KIND ...") and args (the kinds of the
# positional arguments) for the command path $1; kinds: f file, d directory, k NAME=FILE,
# c:a,b one of the words, t text; + a variadic option, * a variadic argument
${fn}__spec() {
  case $1 in
${specs.join('\n')}
    *) cmds= opts= vals= args= ;;
  esac
}

# COMPREPLY: the values of kind $1 that start with $2
${fn}__values() {
  local w
  case $1 in
    f) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$2") ;;
    d) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$2") ;;
    k) if [[ $2 == *=* ]]; then
         ${fn}__values f "\${2#*=}"
         COMPREPLY=("\${COMPREPLY[@]/#/\${2%%=*}=}")
       fi ;;
    c:*) w=\${1#c:}; mapfile -t COMPREPLY < <(compgen -W "\${w//,/ }" -- "$2") ;;
    *) COMPREPLY=() ;;
  esac
}

# kind: the value kind of option $1 of the current command ('' for a flag without a value)
${fn}__kind() {
  kind=
  [[ $vals == *" $1="* ]] || return 0
  kind=\${vals#*" $1="}
  kind=\${kind%% *}
}

${fn}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path= cmds opts vals args kind pend= last= lastkind= glue= n=0 i w
  local -a a
  COMPREPLY=()
  ${fn}__spec ''
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    # COMP_WORDBREAKS splits "--opt=value" and "name=file" at "=": what follows "=" belongs to
    # the word before it (the value of an option given as --opt=value, or the file of name=file)
    if [[ $w == = ]]; then glue=1; continue; fi
    if [[ -n $glue ]]; then
      glue=
      [[ $last == opt ]] || continue
    fi
    if [[ -n $pend ]]; then
      # an option's value; a variadic option takes words up to the next option
      if [[ $pend != *+ || $w != -* ]]; then
        last=val lastkind=\${pend%+}
        [[ $pend == *+ ]] || pend=
        continue
      fi
      pend=
    fi
    last=
    case $w in
      -*=*) continue ;;
      -*) ${fn}__kind "$w"; [[ -n $kind ]] && pend=$kind last=opt; continue ;;
    esac
    if ((n == 0)) && [[ " $cmds " == *" $w "* ]]; then
      path=\${path:+$path }$w
      ${fn}__spec "$path"
      continue
    fi
    n=$((n + 1))
  done
  if [[ $cur == = ]]; then cur= glue=1; fi
  if [[ -n $glue ]]; then
    if [[ $last == opt ]]; then ${fn}__values "\${pend%+}" "$cur"
    elif [[ $last == val && $lastkind == k ]]; then ${fn}__values f "$cur"
    fi
    return 0
  fi
  if [[ -n $pend ]] && [[ $pend != *+ || $cur != -* ]]; then
    ${fn}__values "\${pend%+}" "$cur"
    return 0
  fi
  case $cur in
    -*=*)
      ${fn}__kind "\${cur%%=*}"
      if [[ -n $kind ]]; then
        ${fn}__values "\${kind%+}" "\${cur#*=}"
        COMPREPLY=("\${COMPREPLY[@]/#/\${cur%%=*}=}")
      fi
      return 0 ;;
    -*) mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur"); return 0 ;;
  esac
  if ((n == 0)) && [[ -n $cmds ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$cmds" -- "$cur")
    return 0
  fi
  read -r -a a <<<"$args"
  if ((n < \${#a[@]})); then kind=\${a[n]}
  elif ((\${#a[@]})) && [[ \${a[-1]} == *\\* ]]; then kind=\${a[-1]}
  else return 0
  fi
  ${fn}__values "\${kind%\\*}" "$cur"
}

complete -F ${fn} ${program}
`;
}

// ---- zsh ----

/** A single-quoted zsh word. */
function zq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Text inside an _arguments [description]. */
function zdesc(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/[\\[\]:]/g, (c) => `\\${c}`);
}

function zshAction(v: ValueKind, fn: string): string {
  switch (v.kind) {
    case 'file':
      return '_files';
    case 'dir':
      return '_files -/';
    case 'keyfile':
      return `${fn}__keyfile`;
    case 'choice':
      return `(${v.values.join(' ')})`;
    case 'text':
      return ' ';
  }
}

function zshOptions(options: CompletionOption[], fn: string): string[] {
  const out: string[] = [];
  for (const o of options) {
    const all = o.flags.some((f) => f === '--help' || f === '--version');
    const exclude = all ? '(- *)' : o.flags.length > 1 && !o.repeatable ? `(${o.flags.join(' ')})` : '';
    for (const f of o.flags) {
      const takes = o.value ? (f.startsWith('--') ? '=' : '+') : '';
      const value = o.value ? `:${o.value.name.replace(/:/g, '-')}:${zshAction(o.value, fn)}` : '';
      out.push(zq(`${exclude}${o.repeatable ? '*' : ''}${f}${takes}[${zdesc(o.description)}]${value}`));
    }
  }
  return out;
}

function zshArgs(args: CompletionArgument[], fn: string): string[] {
  return args.map((a) => zq(`${a.variadic ? '*' : a.required ? '' : ':'}:${a.name}:${zshAction(a.value, fn)}`));
}

function zshScript(program: string, tree: CompletionNode): string {
  const fn = `_${program}`;
  const fname = (n: CompletionNode) => [fn, ...n.path].join('__');
  const lines = (items: string[]) => items.map((i) => ` \\\n    ${i}`).join('');
  const functions = allNodes(tree).map((n) => {
    if (!n.commands.length) {
      return `${fname(n)}() {\n  _arguments -s -S${lines([...zshOptions(n.options, fn), ...zshArgs(n.args, fn)])}\n}\n`;
    }
    const commands = n.commands
      .map((c) => `        ${zq(`${c.path.at(-1)}:${c.description.replace(/\s+/g, ' ')}`)}`)
      .join('\n');
    const cases = n.commands.map((c) => `        ${c.path.at(-1)}) ${fname(c)} ;;`).join('\n');
    const label = [program, ...n.path].join(' ');
    return `${fname(n)}() {
  local curcontext=$curcontext state state_descr line ret=1
  typeset -A opt_args
  _arguments -C -s -S${lines([...zshOptions(n.options, fn), "': :->command'", "'*:: :->args'"])} && ret=0
  case $state in
    command)
      local -a commands=(
${commands}
      )
      _describe -t commands ${zq(`${label} command`)} commands && ret=0 ;;
    args)
      curcontext=\${curcontext%:*:*}:${[program, ...n.path].join('-')}-$words[1]:
      case $words[1] in
${cases}
      esac ;;
  esac
  return ret
}
`;
  });
  return `#compdef ${program}
# zsh completion for ${program}: generated by \`${program} completion zsh\` from its commands
# (installed as /usr/share/zsh/vendor-completions/${fn}; in a checkout, after compinit:
# source <(${program} completion zsh))

# a NAME=FILE value: files after the "="
${fn}__keyfile() {
  if compset -P '*='; then _files; else _message 'NAME=FILE'; fi
}

${functions.join('\n')}
if [[ $funcstack[1] == ${fn} ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${program}
fi
`;
}
