import {shellJoin} from '../shell/quote.js'

/** The line the host writes on stderr for each asked-for path that is not there. */
export const MISSING_PREFIX = 'fleet-missing '

/**
 * Runs on the host (argument 1: the folder, the rest: paths in it): a gzipped
 * tar of the paths that exist on stdout, one MISSING line on stderr for each
 * that does not. Files that vanish or cannot be read while tar runs are
 * warnings, not failures. A missing folder gives no output at all.
 */
const SCRIPT = [
  `cd -- "$1" 2>/dev/null || { printf '${MISSING_PREFIX}%s\\n' "$1" >&2; exit 0; }`,
  'shift',
  'n=$#',
  `for p in "$@"; do if [ -e "$p" ] || [ -L "$p" ]; then set -- "$@" "$p"; else printf '${MISSING_PREFIX}%s\\n' "$p" >&2; fi; done`,
  'shift "$n"',
  '[ "$#" -gt 0 ] || exit 0',
  'exec tar -czf - --ignore-failed-read -- "$@"',
].join('\n')

/**
 * The command line that streams `paths` (relative to `base`) as a tar.gz.
 * With `sudo`, it goes through `sudo -n` when the login is not root and sudo
 * works without a password, so root-only logs (/var/log/libvirt) are readable.
 */
export function tarCommand(base: string, paths: string[], opts: {sudo: boolean}): string {
  const run = shellJoin(['sh', '-c', SCRIPT, 'sh', base, ...paths])
  if (!opts.sudo) return run
  return `if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then exec sudo -n ${run}; else exec ${run}; fi`
}

/** The asked-for paths the host said are missing, and its other stderr lines (tar's warnings). */
export function parseTarStderr(stderr: string): {missing: string[]; warnings: string[]} {
  const missing: string[] = []
  const warnings: string[] = []
  for (const line of stderr.split('\n')) {
    if (line.startsWith(MISSING_PREFIX)) missing.push(line.slice(MISSING_PREFIX.length))
    else if (line.trim()) warnings.push(line.trim())
  }
  return {missing, warnings}
}
