import {existsSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {UserError} from '../errors/user-error.js'
import {packageRoot} from '../remote-agent/local-agent.js'
import {runFleet, type FleetRunSummary} from '../orchestrator/fleet-run.js'
import {FleetStore} from '../store/store.js'
import {Progress} from '../ui/progress.js'
import {buildReport, renderReport} from '../ui/status-view.js'
// The one place src/ touches the test bed (testbed/): types only here; the code is
// loaded at run time from its own build (loadTestbed), so the fleet bundle carries none of it.
import type * as Testbed from '../../testbed/index.js'
type LocalHostSet = Testbed.LocalHostSet

/**
 * The test bed's build, dist/testbed/testbed.mjs (scripts/build.mjs), beside the
 * fleet bundle in a checkout. Imported by a path computed at run time, which esbuild
 * does not follow, so it stays out of dist/fleet.
 */
async function loadTestbed(): Promise<typeof Testbed> {
  const file = join(packageRoot(), 'dist', 'testbed', 'testbed.mjs')
  if (!existsSync(file)) throw new UserError(`fleet demo needs the test bed's build (${file}), which is not there; run \`npm run build\` in a checkout of fleet.`)
  return (await import(pathToFileURL(file).href)) as typeof Testbed
}

/**
 * The test bed is a bundle of its own, with its own copy of UserError: give its
 * one-sentence errors (not root, no sshd, ...) fleet's class, so they print as such.
 */
function asUserError(err: unknown): unknown {
  if (err instanceof Error && !(err instanceof UserError) && err.name === 'UserError') {
    return new UserError(err.message, (err as Error & {exitCode?: number}).exitCode ?? 2)
  }
  return err
}

export interface DemoOptions {
  hosts: number
  db?: string
  concurrency: number
  keep: boolean
  print: (text: string) => void
}

/**
 * `fleet demo`: a room on this machine. N real OpenSSH servers on loopback,
 * each its own user and home with passwordless sudo, then the real
 * `fleet prepare` of playbooks/demo.yaml on them, the status table, and the
 * hosts taken down again (also on Ctrl-C).
 */
export async function runDemo(o: DemoOptions): Promise<{summary: FleetRunSummary; db: string}> {
  if (process.getuid?.() !== 0) throw new UserError('fleet demo makes a local user account per demo host and needs root; run it as root (for example with sudo).')
  const {startLocalHosts} = await loadTestbed()
  const dir = mkdtempSync(join(tmpdir(), 'fleet-demo-'))
  const db = o.db ?? join(dir, 'fleet.db')
  o.print(`Starting ${o.hosts} local hosts (OpenSSH servers on loopback, one user each)...\n`)
  let set: LocalHostSet | undefined
  const stopOnSignal = () => {
    void (set?.stop() ?? Promise.resolve()).finally(() => process.exit(130))
  }
  process.once('SIGINT', stopOnSignal)
  process.once('SIGTERM', stopOnSignal)
  try {
    set = await startLocalHosts({count: o.hosts, prefix: 'fleet-d'}).catch((err: unknown) => {
      throw asUserError(err)
    })
    const hostsFile = join(dir, 'hosts.txt')
    writeFileSync(hostsFile, set.hostsFileText())
    o.print(`Hosts file: ${hostsFile}\nRunning: fleet prepare --hosts ${hostsFile} --playbook demo --db ${db}\n\n`)
    const summary = await runFleet(
      {mode: 'run', hostsFile, defaults: {}, db, playbook: 'demo', concurrency: o.concurrency},
      (n) => [new Progress(n)],
    )
    const store = FleetStore.open(db)
    try {
      o.print(`\nfleet status --db ${db}\n\n${renderReport(buildReport(store.hosts()))}`)
    } finally {
      store.close()
    }
    if (o.keep) o.print(`\nThe hosts keep running (--keep); stop this command with Ctrl-C to take them down.\n`)
    return {summary, db}
  } finally {
    if (!o.keep) {
      await set?.stop()
      o.print(`\nLocal hosts stopped. The record stays in ${db} (try: fleet status --db ${db} --host h001).\n`)
    } else await new Promise<never>(() => setInterval(() => undefined, 60_000)) // a pending promise alone keeps no process alive; Ctrl-C ends it
    process.off('SIGINT', stopOnSignal)
    process.off('SIGTERM', stopOnSignal)
  }
}
