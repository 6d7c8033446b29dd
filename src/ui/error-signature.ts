import {isIP, isIPv6} from 'node:net'

/**
 * Errors grouped by signature (issue 14, item 4): what a room's failures have in common.
 * A signature is an error line with everything that differs from host to host for the
 * same fault put into placeholders: addresses, the hosts' own names, numbers, hex ids,
 * paths under a home directory, timestamps, temp file names. Pure: no I/O; `fleet status`,
 * its --json and the dashboard all group with it.
 */

/** One failed (or unreachable) host: its error line and, when read, the failed step's last log lines. */
export interface HostFailure {
  host: string
  /** The failed step's id; null when the host failed outside any step (or was never reached). */
  step: string | null
  /** The host's error line, as stored. */
  error: string
  /** The failed step's last log lines, oldest first. */
  tail?: readonly string[]
  /** failed (the default) or unreachable: the two are never grouped together. */
  state?: 'failed' | 'unreachable'
}

export interface ErrorGroup {
  state: 'failed' | 'unreachable'
  step: string | null
  /** The normalised line(s) the hosts share. */
  signature: string
  count: number
  /** One real example: the error text of the group's first host, verbatim. */
  error: string
  /** When the error line says nothing of its own (`exit code 1`), the example host's log lines that carry the signature, verbatim. */
  detail: string[]
  hosts: string[]
  /** The hosts folded: `alice-lab, bob-lab +5`. */
  label: string
}

export interface SignatureOptions {
  /** The hosts' own names (and addresses that are names): each becomes `<host>`. */
  hosts?: Iterable<string> | HostNames
  /** The failed step: a leading `STEP: ` (how a run's error names its step) is dropped. */
  step?: string | null
  /** The failed step's last log lines, oldest first; read only when the error line is generic. */
  tail?: readonly string[]
}

/**
 * A line this long was cut by the agent (error lines end at 500 characters), at a point that
 * moves with the addresses and numbers before it: only the start of its normalised form counts.
 */
const TRUNCATED_RAW = 500
const TRUNCATED_KEEP = 160
/** Tail lines that stand in for a generic error line: at most this many, from the last this many non-blank ones. */
const TAIL_PICKED = 2
const TAIL_LOOKED_AT = 5
/** A log line that reads as a reason: preferred over the progress lines around it. */
const REASON = /\b(?:err(?:or)?|fail(?:ed|ure|s)?|fatal|unable|cannot|can't|could not|couldn't|denied|refused|not found|no such|timed? ?out|unreachable|invalid|missing|exception|traceback|abort(?:ed)?|killed|panic)\b|^(?:E|W|F):/i

/** The hosts' own names, for `<host>`: matched whole (or as the start of a longer DNS name, NAME.domain), case-insensitively. */
export class HostNames {
  private readonly names = new Set<string>()
  constructor(names: Iterable<string> = []) {
    for (const n of names) this.add(n)
  }

  add(name: string): void {
    const n = name.trim().toLowerCase()
    // An IP address given as a name is an address: the address rule takes it. (isIP only for
    // what could be one: hex digits, dots, colons, a zone; it is the slow part for a big room.)
    const bare = n.replace(/^\[|\]$/g, '')
    if (n && !(/^[0-9a-f:.]+(?:%.+)?$/.test(bare) && isIP(bare))) this.names.add(n)
  }

  get size(): number {
    return this.names.size
  }

  /** Each token that is one of the names (or NAME.domain) as `<host>`. */
  replace(line: string): string {
    if (!this.names.size) return line
    return line.replace(/[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?/g, (tok) => {
      const t = tok.toLowerCase()
      if (this.names.has(t)) return '<host>'
      // NAME.room.example is the host too (a name may hold dots itself: longest first).
      for (let i = t.lastIndexOf('.'); i > 0; i = t.lastIndexOf('.', i - 1)) if (this.names.has(t.slice(0, i))) return '<host>'
      return tok
    })
  }
}

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec'
const DAYS = 'Mon|Tue|Wed|Thu|Fri|Sat|Sun'
const PATH_END = `[^\\s'"\`:,;()\\[\\]{}<>]*`

/** The rules, in order: each sees what the ones before it left. */
const RULES: Array<[RegExp, string | ((m: string, ...groups: string[]) => string)]> = [
  // Timestamps: ISO 8601 (and Python logging's comma), compact run ids' 20261124T033000Z, syslog, kernel, bare times.
  [/\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|\s?UTC|[+-]\d{2}:?\d{2})?)?/g, '<time>'],
  [/\b\d{8}T\d{6}(?:\.\d+)?Z?/g, '<time>'],
  [new RegExp(`\\b(?:(?:${DAYS}),?\\s+)?(?:${MONTHS})\\s+\\d{1,2}\\s+\\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)?(?:\\s+(?:UTC|GMT|[A-Z]{2,3}T))?(?:\\s+\\d{4})?`, 'g'), '<time>'],
  [/\[\s*\d+\.\d+\]/g, '[<time>]'],
  [/(?<![\d:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\d:])/g, '<time>'],
  // UUIDs (Ironic nodes, libvirt domains), then MAC addresses, before IPv6 (a MAC looks like part of one).
  [/\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b/g, '<uuid>'],
  [/(?<![\w:-])[0-9A-Fa-f]{2}(?:([:-])[0-9A-Fa-f]{2})(?:\1[0-9A-Fa-f]{2}){4}(?![\w:-])/g, '<mac>'],
  // IPv6, bracketed with a port or bare (validated and holding a digit, so `std::string` or `Foo::bar` text stays).
  [/\[([0-9A-Fa-f:.]+)(?:%[\w.-]+)?\](?::\d{1,5})?/g, (m, a) => (isIPv6(a) ? '<ip>' : m)],
  [/(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?)(?:%[\w.-]+)?(?![\w:]|\.\d)/g, (m, a) => (/\d/.test(a) && isIPv6(a) ? '<ip>' : m)],
  // IPv4, with a CIDR length or a port.
  [/(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:\/\d{1,2})?(?::\d{1,5})?(?!\w|\.\d)/g, '<ip>'],
  // Paths under a home directory (whoever's it is), and temp files.
  [new RegExp(`(?:/home/[^/\\s'"\`:,;()]+|/root|/Users/[^/\\s'"\`:,;()]+)(?![^/\\s'"\`:,;()\\[\\]{}<>])(?:/${PATH_END})?`, 'g'), '<home-path>'],
  // Whole paths under /tmp, then mktemp's tmp.XXXXXXXXXX and Python's tmpXXXXXXXX elsewhere.
  [new RegExp(`(?:/var)?/tmp/${PATH_END}|/dev/shm/${PATH_END}`, 'g'), '<tmp-path>'],
  [/(?<![\w<])tmp(?:\.[A-Za-z0-9]{6,}|[a-z0-9_]{8})(?!\w)/g, '<tmp>'],
  // Hex: 0x..., and ids/hashes (6+ hex digits mixing digits and letters; pure digits are numbers below).
  [/\b0x[0-9A-Fa-f]+\b/g, '<hex>'],
  [/(?<!\w)(?=[0-9A-Fa-f]*\d)(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{6,}(?!\w)/g, '<hex>'],
  // A login before an address or a host: alice@10.0.0.5, fleet-h001@<host>.
  [/(?:<host>|[\w.-]+)@(?=<ip>|<host>)/g, '<user>@'],
  // Durations (130812 ms, 15s, 1m30s, 2.5 seconds), then every other number.
  [/(?<![\w.])(?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s|d))+(?!\w)|(?<![\w.])\d+(?:\.\d+)?\s(?:ms|milliseconds?|secs?|seconds?|mins?|minutes?|hours?)\b/g, '<dur>'],
  // (After a letter a digit is part of a name: python3, controller00, x86_64; after _ only a version is a number: pkg_21.4.0.)
  [/(?<![A-Za-z0-9_])\d+(?:[.,]\d+)*|(?<=_)\d+(?:\.\d+)+/g, '<n>'],
]

/** A line's signature: the line with its host-to-host differences as placeholders. */
export function normaliseLine(line: string, hosts?: HostNames): string {
  // What a terminal would show: colours gone, a progress line at its last \r.
  let s = line.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/^.*\r(?=.)/s, '')
  if (hosts) s = hosts.replace(s)
  for (const [re, to] of RULES) s = s.replace(re, to as string)
  s = s.replace(/\s+/g, ' ').trim()
  return line.length >= TRUNCATED_RAW ? s.slice(0, TRUNCATED_KEEP) : s
}

/** Error lines that say only that something failed, not what: the log lines must say it. */
const GENERIC: RegExp[] = [
  /^(?:error:? |fatal:? )?(?:exit(?:ed)?|exit code|exit status|return(?:ed)? code|rc|status)(?: with)?(?: code| status)?[ :=]*(?:-?<n>|null|SIG[A-Z]+|signal \w+)\.?$/i,
  /^(?:verify failed: )?exit (?:-?<n>|null|SIG[A-Z]+)$/i,
  /^(?:the )?(?:command|process|script|step) (?:failed|exited|was killed|returned non-zero)(?: with (?:exit )?(?:code|status) -?<n>)?\.?$/i,
  /^(?:Error: )?Process completed with exit code <n>\.?$/i,
  /^(?:subprocess\.CalledProcessError: )?Command .* returned non-zero exit status <n>\.?$/i,
  /^(?:make|ninja)(?:\[<n>\])?: \*\*\* .*Error <n>$/,
  /^(?:error|failed|failure|fatal|aborted|killed|terminated)[.!:]?$/i,
  /^agent start failed with exit code <n>$/,
]

function genericLine(normalised: string): boolean {
  return GENERIC.some((re) => re.test(normalised))
}

/** The error's non-blank lines, normalised. */
function errorLines(error: string, step: string | null | undefined, hosts: HostNames | undefined): string[] {
  return withoutStep(error, step)
    .split('\n')
    .map((l) => normaliseLine(l, hosts))
    .filter((l) => l !== '')
}

/**
 * Whether an error says only that something failed, not what (`exit code 1`, `command failed`,
 * `make: *** [all] Error 2`, nothing at all): then the step's log lines carry its signature.
 */
export function isGenericError(error: string, step?: string | null): boolean {
  return errorLines(error, step, undefined).every(genericLine)
}

function hostNamesOf(h: SignatureOptions['hosts']): HostNames | undefined {
  return h === undefined ? undefined : h instanceof HostNames ? h : new HostNames(h)
}

/** The error without the `STEP: ` a run's error starts with (the step is part of a group's key already). */
export function withoutStep(error: string, step: string | null | undefined): string {
  return step && error.startsWith(`${step}: `) ? error.slice(step.length + 2) : error
}

interface Signed {
  signature: string
  detail: string[]
}

function sign(error: string, opts: SignatureOptions, hosts: HostNames | undefined): Signed {
  const norm = errorLines(error, opts.step, hosts)
  if (!opts.tail?.length || !norm.every(genericLine)) return {signature: norm.join('\n'), detail: []}
  // The error line says nothing: the step's last log lines that read as a reason carry the
  // signature (or, when none does, its last line), blank and generic ones skipped.
  const looked: Array<{raw: string; norm: string}> = []
  for (let i = opts.tail.length - 1; i >= 0 && looked.length < TAIL_LOOKED_AT; i--) {
    const raw = opts.tail[i]
    const n = normaliseLine(raw, hosts)
    if (n === '' || norm.includes(n) || genericLine(n)) continue
    looked.unshift({raw, norm: n})
  }
  const reasons = looked.filter((l) => REASON.test(l.norm))
  const picked = reasons.length ? reasons.slice(-TAIL_PICKED) : looked.slice(-1)
  return {signature: [...norm, ...picked.map((p) => p.norm)].join('\n'), detail: picked.map((p) => p.raw.trim())}
}

/**
 * An error's signature: its line(s) normalised, and, when the error line is generic
 * (`exit code 1`), the step's last non-blank log lines after it. Two hosts whose errors
 * differ only in an address, a number, a host name, a hex id, a path under a home or a
 * timestamp get the same signature.
 */
export function errorSignature(text: string, opts: SignatureOptions = {}): string {
  return sign(text, opts, hostNamesOf(opts.hosts)).signature
}

/** `alice-lab, bob-lab +5`: the first `shown` names, then how many more. */
export function foldHosts(hosts: readonly string[], shown = 2): string {
  const head = hosts.slice(0, shown).join(', ')
  return hosts.length > shown ? `${head} +${hosts.length - shown}` : head
}

/**
 * Failed hosts grouped by (state, step, signature), most hosts first (then in the order the
 * first host of each came), hosts in the order given. Unreachable hosts never share a group
 * with failed ones. `hosts` adds names to normalise besides the failures' own (the room's
 * other hosts, addresses that are DNS names).
 */
export function groupErrors(failures: readonly HostFailure[], opts: {hosts?: Iterable<string>; shown?: number} = {}): ErrorGroup[] {
  const names = new HostNames(opts.hosts)
  for (const f of failures) names.add(f.host)
  const groups = new Map<string, ErrorGroup>()
  for (const f of failures) {
    const state = f.state ?? 'failed'
    const {signature, detail} = sign(f.error, {step: f.step, tail: f.tail}, names)
    const key = JSON.stringify([state, f.step, signature])
    const g = groups.get(key)
    if (g) g.hosts.push(f.host)
    else groups.set(key, {state, step: f.step, signature, count: 0, error: f.error, detail, hosts: [f.host], label: ''})
  }
  const out = [...groups.values()]
  for (const g of out) {
    g.count = g.hosts.length
    g.label = foldHosts(g.hosts, opts.shown)
  }
  // Array.prototype.sort is stable: equal counts keep their first-seen order.
  return out.sort((a, b) => b.count - a.count)
}
