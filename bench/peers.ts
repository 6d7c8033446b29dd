// The peers fleet is measured against (Ansible, parallel-ssh), and the exact step
// commands they run: the demo playbook rendered by the agent's own code.
import {execFileSync, spawnSync} from 'node:child_process'
import {loadPlaybook} from '../src/playbook/load.js'
import {prepareSteps, type PreparedStep} from '../src/playbook/prepare.js'
import {selectSteps} from '../src/playbook/select.js'
import {gatherFacts} from '../src/agent/facts.js'
import {shellJoin, shq} from '../src/shell/quote.js'
import {versionOf} from './proc.js'

export const PEER_TOOLS = {ansible: 'ansible-playbook', pscp: 'parallel-scp', pssh: 'parallel-ssh'}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], {stdio: 'ignore'}).status === 0
}

export function missingPeers(): string[] {
  return Object.values(PEER_TOOLS).filter((c) => !onPath(c))
}

/** Install ansible-core and pssh from Debian when missing (root only); throws when they cannot be had. */
export function ensurePeers(opts: {install: boolean}): void {
  let missing = missingPeers()
  if (missing.length && opts.install && process.getuid?.() === 0) {
    console.error(`bench: installing the peers from Debian (missing: ${missing.join(', ')})`)
    const env = {...process.env, DEBIAN_FRONTEND: 'noninteractive'}
    const install = () => spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'ansible-core', 'pssh'], {stdio: 'inherit', env})
    if (install().status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], {stdio: 'inherit', env})
      install()
    }
    missing = missingPeers()
  }
  if (missing.length) throw new Error(`the benchmark peers are missing: ${missing.join(', ')}; install them with: apt-get install -y ansible-core pssh (scripts/setup.sh does)`)
}

export function peerVersions(): Record<string, string> {
  return {
    ansible: versionOf('ansible-playbook', ['--version'], (o) => o.split('\n')[0].replace(/^ansible-playbook \[core (.*)\]$/, 'ansible-core $1').trim()),
    pssh: versionOf('dpkg-query', ['-W', '-f=${Version}', 'pssh'], (o) => `pssh ${o.trim()}`),
    openssh: versionOf('ssh', ['-V'], (o) => o.split(',')[0].trim()),
  }
}

// ---------------------------------------------------------------------------
// The step commands. Rendered once, with stand-ins for the two facts that differ
// per host (home, user); the shell puts the host's own values back at run time.

const HOME_MARK = '/__FLEET_BENCH_HOME__'
const USER_MARK = '__FLEET_BENCH_USER__'

/** A rendered string back to shell words: the stand-ins become "$HOME" and "$(id -un)". */
function live(s: string): string {
  return s.replaceAll(`'${HOME_MARK}`, `"$HOME"'`).replaceAll(HOME_MARK, '"$HOME"').replaceAll(`'${USER_MARK}`, `"$(id -un)"'`).replaceAll(USER_MARK, '"$(id -un)"')
}

/** A literal text as one shell word, with the stand-ins expanded by the shell. */
function liveWord(text: string): string {
  const parts = text.split(new RegExp(`(${HOME_MARK}|${USER_MARK})`))
  return parts.map((p) => (p === HOME_MARK ? '"$HOME"' : p === USER_MARK ? '"$(id -un)"' : p ? shq(p) : '')).join('') || "''"
}

/** How the agent runs a step command: bash --noprofile --norc -eo pipefail -c SCRIPT, with the step's env (and sudo -n when it needs root). */
function bash(script: string, p: PreparedStep): string {
  const env = Object.entries(p.env).map(([k, v]) => `${k}=${liveWord(v)}`)
  const sudo = p.step.needs_root ? ['sudo', '-n'] : []
  return [...sudo, ...(env.length ? ['env', ...env] : []), shellJoin(['bash', '--noprofile', '--norc', '-eo', 'pipefail', '-c']), live(shq(script))].join(' ')
}

/** The step's action, retried like the agent does (retries, retry_delay * 2^n), verify after each attempt. */
function action(p: PreparedStep): string {
  let attempt: string
  if (p.run !== undefined) attempt = p.verify ? `{ ${bash(p.run, p)} && ${bash(p.verify, p)}; }` : bash(p.run, p)
  else if (p.template) {
    const dest = liveWord(p.template.dest)
    const mode = p.template.mode === undefined ? '' : ` && chmod ${p.template.mode.toString(8)} ${dest}.tmp`
    attempt = `{ printf %s ${liveWord(p.template.content)} > ${dest}.tmp${mode} && mv -f ${dest}.tmp ${dest}; }`
  } else if (p.wait_for) {
    const w = p.wait_for
    const probe = w.command !== undefined ? live(shq(w.command)) : shq(`exec 3<>/dev/tcp/${w.tcp!.host}/${w.tcp!.port}`)
    attempt = `timeout ${w.timeout_s} bash --noprofile --norc -c ${shq(`until bash --noprofile --norc -eo pipefail -c "$0" 2>/dev/null; do sleep ${w.interval_s}; done`)} ${probe}`
  } else throw new Error(`step ${p.step.id}: the benchmark peers have no equivalent for this step (reboot)`)
  let line = attempt
  for (let n = 0; n < p.step.retries; n++) line = `${line} || { sleep ${p.step.retry_delay_s * 2 ** n}; ${attempt}; }`
  return `{ ${line}; }`
}

/** The check: the step's own, or for a template whether dest already has the content. */
function check(p: PreparedStep): string | undefined {
  if (p.check !== undefined) return bash(p.check, p)
  if (p.template) return `printf %s ${liveWord(p.template.content)} | cmp -s - ${liveWord(p.template.dest)}`
  return undefined
}

export interface PeerStep {
  id: string
  /** One POSIX sh line: check || action. */
  command: string
}

/** The playbook's steps as the shell lines the peers run, one per step. */
export function peerSteps(playbookPath: string): PeerStep[] {
  const pb = loadPlaybook(playbookPath)
  const facts = {...gatherFacts(), home: HOME_MARK, user: USER_MARK}
  const prepared = prepareSteps(pb, selectSteps(pb, undefined, undefined), facts)
  return prepared
    .filter((p) => p.enabled)
    .map((p) => {
      const c = check(p)
      return {id: p.step.id, command: c ? `${c} || ${action(p)}` : action(p)}
    })
}

/** Smoke-check the rendered lines locally: bash parses every one of them. */
export function syntaxCheck(steps: PeerStep[]): void {
  for (const s of steps) execFileSync('bash', ['-n', '-c', s.command], {stdio: 'pipe'})
}
