/**
 * What the SSM transport sends to an instance, as shell text, and how it reads
 * the answers. Everything here is POSIX sh (AWS-RunShellScript runs its
 * `commands` with /bin/sh) using only coreutils, gzip and getent.
 *
 * Run Command gives a command's output only once it ended, and only its first
 * 24,000 characters (stderr: 8,000). So a command's stdout and stderr go to
 * files in a private temp dir on the instance; the answer is a header line
 * (exit code, sizes, sha256 of each, the dir), then the first page of each
 * stream in base64. What did not fit is fetched by page commands (base64
 * slices of the files), checked against the sha256, and the dir removed.
 * Requests are capped too (a document's parameters: 64 KB), so files go up
 * in gzip+base64 chunks and are assembled and checked on the instance.
 */
import {shq} from '../shell/quote.js'
import {REMOTE_ROOT} from '../protocol/remote-layout.js'

/** What we let one command's text be, JSON-escaped (the service refuses parameters over 64 KB). */
export const MAX_COMMAND_BYTES = 60_000
/** Raw bytes of output in the first answer (stdout + stderr pages): 4/3 of it in base64 plus the header stays under 24,000. */
const FIRST_PAGE_BYTES = 17_400
/** Raw bytes of stderr at most in the first answer. */
const FIRST_ERR_BYTES = 4_096
/** Raw bytes per page command: 23,600 characters of base64. */
export const PAGE_BYTES = 17_700
/** Base64 characters of file data per upload command. */
export const CHUNK_CHARS = 44_000
/** Stdin up to this many bytes travels inside the command; more goes up as a file first. */
export const INLINE_STDIN_BYTES = 30_000

const MAGIC = 'FLEETSSM1'

/**
 * Give the command what an SSH login has: HOME (Run Command sets none) and the
 * home as working directory (Run Command starts in its own orchestration dir).
 */
const LOGIN_PRELUDE = [
  `p=$(getent passwd "$(id -u)" 2>/dev/null); h=\${p%:*}; h=\${h##*:}; [ -n "$p" ] && [ -n "$h" ] || h=\${HOME:-/}`,
  `HOME=$h; export HOME; [ -n "\${USER:-}" ] || [ -z "$p" ] || { USER=\${p%%:*}; LOGNAME=$USER; export USER LOGNAME; }`,
  `cd "$HOME" || exit 125`,
].join('\n')

/**
 * The script for exec(): runs `command` with bash (sh when there is none) in
 * the home, output to files, then answers with the header and first pages.
 * Exits with the command's exit code, so the console shows Success/Failed too.
 */
export function execScript(command: string, stdin?: {inline: Buffer} | {file: string}): string {
  const input =
    stdin === undefined
      ? '</dev/null'
      : 'inline' in stdin
        ? null
        : `<${shq(stdin.file)}`
  const run = `"$s" -c ${shq(command)} >"$d/o" 2>"$d/e"`
  const runLine =
    input === null
      ? `printf %s ${shq((stdin as {inline: Buffer}).inline.toString('base64'))} | base64 -d | ${run}`
      : `${run} ${input}`
  return [
    LOGIN_PRELUDE,
    `d=$(mktemp -d "\${TMPDIR:-/tmp}/fleet-ssm.XXXXXXXX") || exit 125`,
    `if command -v bash >/dev/null 2>&1; then s=bash; else s=sh; fi`,
    runLine,
    `c=$?`,
    ...(stdin && 'file' in stdin ? [`rm -f ${shq(stdin.file)}`] : []),
    `so=$(wc -c <"$d/o"); se=$(wc -c <"$d/e"); so=$((so)); se=$((se))`,
    `ep=$se; [ "$ep" -gt ${FIRST_ERR_BYTES} ] && ep=${FIRST_ERR_BYTES}; op=$((${FIRST_PAGE_BYTES} - ep))`,
    // The sha256 only matters when the rest comes in pages; an answer that holds it all is whole.
    `if [ "$so" -le "$op" ] && [ "$se" -le "$ep" ]; then all=1; ho=-; he=-; else all=; ho=$(sha256sum <"$d/o"); he=$(sha256sum <"$d/e"); fi`,
    `printf '${MAGIC} %s %s %s %.64s %.64s %s\\n' "$c" "$so" "$se" "$ho" "$he" "$d"`,
    `[ "$so" = 0 ] || head -c "$op" "$d/o" | base64 | tr -d '\\n'; echo`,
    `[ "$se" = 0 ] || head -c "$ep" "$d/e" | base64 | tr -d '\\n'; echo`,
    `[ -z "$all" ] || rm -rf "$d"`,
    `exit "$c"`,
  ].join('\n')
}

export interface ExecHeader {
  code: number
  outSize: number
  errSize: number
  outSha: string
  errSha: string
  dir: string
  outFirst: Buffer
  errFirst: Buffer
}

const DIR_RE = /^\/[A-Za-z0-9._/-]*\/fleet-ssm\.[A-Za-z0-9]+$/

/** Parse the answer of execScript; undefined when it is not one (the wrapper itself did not run to its end). */
export function parseExecAnswer(stdout: string): ExecHeader | undefined {
  const lines = stdout.split('\n')
  const h = lines[0]?.split(' ')
  if (!h || h[0] !== MAGIC || h.length !== 7) return undefined
  const [code, outSize, errSize] = [Number(h[1]), Number(h[2]), Number(h[3])]
  if (![code, outSize, errSize].every((n) => Number.isInteger(n) && n >= 0)) return undefined
  const sha = /^(?:[0-9a-f]{64}|-)$/
  if (!sha.test(h[4]!) || !sha.test(h[5]!) || !DIR_RE.test(h[6]!)) return undefined
  return {
    code,
    outSize,
    errSize,
    outSha: h[4]!,
    errSha: h[5]!,
    dir: h[6]!,
    outFirst: Buffer.from(lines[1] ?? '', 'base64'),
    errFirst: Buffer.from(lines[2] ?? '', 'base64'),
  }
}

/** One page of a stream file left by execScript: `length` bytes from `offset`, in base64. With `cleanup`, the dir goes afterwards. */
export function pageScript(dir: string, stream: 'o' | 'e', offset: number, length: number, cleanup: boolean): string {
  const file = `${dir}/${stream}`
  return [
    `[ -f ${shq(file)} ] || { echo 'the output file is gone' >&2; exit 3; }`,
    `tail -c +${offset + 1} ${shq(file)} | head -c ${length} | base64 | tr -d '\\n'; echo`,
    ...(cleanup ? [`rm -rf ${shq(dir)}`] : []),
  ].join('\n')
}

/** Remove what execScript left (best effort, e.g. after a failed page). */
export function cleanupScript(dir: string): string {
  return `rm -rf ${shq(dir)}`
}

/** The staging dir of one content's chunks, in the home: the same on every instance, so the chunk commands are the same and batch. */
function stageDir(key: string): string {
  return `${REMOTE_ROOT}/ssm-stage/${key}`
}

/** Write chunk `index` of a staged upload; repeating it is harmless. */
export function chunkCommand(key: string, index: number, base64: string): string {
  const dir = stageDir(key)
  const part = `${dir}/${String(index).padStart(5, '0')}`
  return `mkdir -p ${shq(dir)} && printf %s ${shq(base64)} | base64 -d >${shq(part)}.$$ && mv -f ${shq(part)}.$$ ${shq(part)}`
}

/** Where assembled content goes: one file (atomically, with its mode), or a tar archive unpacked into a dir. */
export type AssembleTarget = {file: string; mode: number} | {untarInto: string}

/**
 * Put uploaded content in place: decompress it (from inline base64 or the
 * staged chunks), check its sha256, then rename it over the target file with
 * its mode (parent dirs created), or unpack it (a tar) into a dir. Exit 65
 * and a line on stderr on a checksum mismatch; the staged chunks go either way.
 */
export function assembleCommand(sha256: string, target: AssembleTarget, source: {inline: string} | {key: string; chunks: number}): string {
  const dir = 'file' in target ? (target.file.includes('/') ? target.file.slice(0, target.file.lastIndexOf('/')) || '/' : '.') : target.untarInto
  const base = 'file' in target ? target.file.slice(target.file.lastIndexOf('/') + 1) : 'bundle.tar'
  const from =
    'inline' in source
      ? `printf %s ${shq(source.inline)} | base64 -d`
      : `cat "$@"`
  const place =
    'file' in target
      ? `chmod ${(target.mode & 0o7777).toString(8)} "$t" && mv -f "$t" ${shq(target.file)} || { rm -f "$t"; exit 1; }`
      : `tar -xpf "$t" --no-same-owner -C ${shq(target.untarInto)} || { rm -f "$t"; exit 1; }\nrm -f "$t"`
  return [
    ...('key' in source
      ? [
          `set -- ${shq(stageDir(source.key))}/[0-9][0-9][0-9][0-9][0-9]`,
          `[ "$#" = ${source.chunks} ] && [ -f "$1" ] || { echo "upload incomplete: $# of ${source.chunks} chunks on the instance" >&2; exit 1; }`,
        ]
      : []),
    `mkdir -p ${shq(dir)} || exit 1`,
    `t=${shq(dir)}/${shq(`.${base}.fleet-`)}$$`,
    `if ! ${from} | gzip -dc >"$t"; then rm -f "$t"; echo 'cannot assemble the uploaded file' >&2; exit 1; fi`,
    `if [ "$(sha256sum <"$t" | cut -c1-64)" != ${sha256} ]; then rm -f "$t"; echo 'checksum mismatch after upload' >&2; exit 65; fi`,
    place,
    ...('key' in source ? [`rm -rf ${shq(stageDir(source.key))}`] : []),
  ].join('\n')
}

/** A file's mode (octal, on stderr) and its gzipped content (stdout). */
export function readFileCommand(remotePath: string): string {
  return `stat -c %a -- ${shq(remotePath)} >&2 || exit 1\nexec gzip -c -- ${shq(remotePath)}`
}
