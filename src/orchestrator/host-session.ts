import {randomBytes} from 'node:crypto'
import {dirname} from 'node:path'
import {parseStartAnswer, splitRecords, type JournalRecord} from '../protocol/index.js'
import {isStoreFull, type FleetStore, type HostState} from '../store/store.js'
import {ConnectionLostError, TransportError, type Transport} from '../transport/types.js'
import {shq} from '../shell/quote.js'
import {bundleTar, type Bundle} from './bundle.js'
import {pollFollow} from './follow-poll.js'
import {cachedRuntime, fetchOnHostScript, installUploadedScript, RUNTIME_NODE, RUNTIME_VERSION, runtimeArch, UPLOADED_RUNTIME} from './runtime.js'
import {agentCommand, bundleDir, finishBundleCommand, mkdirCommand, parseProbe, probeScript, REMOTE_ROOT, streamingRunCommand, varsPath, type Probe} from './remote.js'

export interface VarsUpload {
  hash: string
  data: Buffer
}

export interface SessionOptions {
  mode: 'run' | 'undo'
  bundle: Bundle
  vars?: VarsUpload
  /** Passed through to `agent start` / `agent undo`: --only, --from-step, --to-step. */
  agentArgs: string[]
  store: FleetStore
  /** Reconnect attempts after a dropped connection before the host counts as unreachable. */
  reconnectAttempts?: number
  reconnectBaseMs?: number
  onState?: (state: HostState, detail?: string) => void
  onRecords?: (records: JournalRecord[]) => void
  /** The store cannot take more (its disk is full): the whole run stops, not just this host. */
  onFatal?: (e: unknown) => void
  /** auto: the host's Node.js when it is 18+, else fleet's runtime; managed: always fleet's runtime. */
  runtime?: 'auto' | 'managed'
  /** Where hosts download the runtime from (an npm registry or a mirror of it). */
  runtimeMirror?: string
}

const MIN_NODE_MAJOR = 18
const MIN_FREE_KB = 200 * 1024
/** Store records in batches: one transaction per batch, not per record. */
const BATCH_RECORDS = 500
const BATCH_MS = 100

class HostFailure extends Error {
  constructor(
    readonly state: HostState,
    message: string,
  ) {
    super(message)
  }
}

/**
 * One host from connect to the end of its agent run: probe, upload the bundle
 * (once per content hash), start or re-attach to the agent, follow its journal
 * into the store, and ride out dropped connections by reconnecting and
 * following again from the last stored seq.
 */
export async function runHostSession(hostId: number, transport: Transport, opts: SessionOptions): Promise<HostState> {
  const {store} = opts
  const setState = (state: HostState, error?: string | null) => {
    store.setHostState(hostId, state, error)
    opts.onState?.(state, error ?? undefined)
  }
  try {
    setState('connecting', null)
    await transport.connect()
    if ('hostKey' in transport && typeof transport.hostKey === 'string') store.setHostKey(hostId, transport.hostKey)
    const probe = await withReconnect(transport, opts, () => probeHost(transport, opts.bundle))
    const node = await withReconnect(transport, opts, () => nodeFor(transport, probe, opts))
    if (!probe.bundlePresent) await withReconnect(transport, opts, () => uploadBundle(transport, opts.bundle))
    if (opts.vars) await withReconnect(transport, opts, () => uploadVars(transport, opts.vars!))
    setState('running')
    return await driveAgent(hostId, transport, node, opts)
  } catch (e) {
    if (isStoreFull(e)) {
      opts.onFatal?.(e) // not this host's failure: the whole run stops (fleet-run)
      throw e
    }
    const failure = e instanceof HostFailure ? e : e instanceof TransportError ? new HostFailure('unreachable', e.message) : new HostFailure('failed', (e as Error).message)
    setState(failure.state, failure.message)
    return failure.state
  } finally {
    await transport.close().catch(() => undefined)
  }
}

async function probeHost(t: Transport, bundle: Bundle): Promise<Probe> {
  // Generous: a host busy with other work (or 200 loopback hosts on 2 cores) answers slowly.
  const r = await t.exec(probeScript(bundle.hash), {timeoutMs: 120_000})
  return parseProbe(r.stdout)
}

/** The node the agent runs with: the host's own when it will do, else fleet's pinned runtime. */
async function nodeFor(t: Transport, p: Probe, opts: SessionOptions): Promise<string> {
  if (p.diskKb < MIN_FREE_KB) throw new HostFailure('failed', `only ${Math.round(p.diskKb / 1024)} MB free in the login's home (need ${MIN_FREE_KB / 1024} MB)`)
  const own = p.node && p.node.major >= MIN_NODE_MAJOR && !p.node.path.endsWith(RUNTIME_NODE) ? p.node.path : undefined
  if (own && opts.runtime !== 'managed') return own
  if (p.runtime === RUNTIME_VERSION) return RUNTIME_NODE
  const arch = runtimeArch(p.arch)
  const why = p.node ? `Node.js ${p.node.version} at ${p.node.path}` : 'no Node.js'
  if (!arch) throw new HostFailure('failed', `${why} on the host and fleet has no runtime for ${p.arch}; install Node.js ${MIN_NODE_MAJOR}+ there`)
  opts.onState?.('connecting', `installing Node.js ${RUNTIME_VERSION} (${why} here)`)
  const fetched = await t.exec(fetchOnHostScript(arch, opts.runtimeMirror), {timeoutMs: 600_000})
  if (fetched.code === 0) return RUNTIME_NODE
  // The host could not download it: send the instructor's copy, checked against the same pinned checksum.
  opts.onState?.('connecting', `the host could not download Node.js (${firstLine(fetched.stderr) || `exit ${fetched.code}`}); uploading it`)
  let runtime = runtimeCache.get(arch)
  if (!runtime) runtimeCache.set(arch, (runtime = cachedRuntime(arch)))
  await t.putFile(await runtime, UPLOADED_RUNTIME, 0o600)
  await check(t, installUploadedScript(arch), `install the uploaded Node.js runtime`)
  return RUNTIME_NODE
}

/** One download of the fallback runtime per fleet process, however many hosts need it. */
const runtimeCache = new Map<string, Promise<Buffer>>()

async function uploadBundle(t: Transport, bundle: Bundle): Promise<void> {
  const tmp = `${REMOTE_ROOT}/bundles/.tmp-${bundle.hash}-${randomBytes(4).toString('hex')}`
  const dirs = [...new Set(bundle.files.map((f) => dirname(`${tmp}/${f.rel}`)))]
  const mkdirs = mkdirCommand([`${REMOTE_ROOT}/vars`, ...dirs])
  if (t.streams !== false && !t.putFiles) {
    // One exec for the lot: make the folders, unpack one tar stream (less CPU on both ends
    // than an SFTP write per file), move it into place. Each exec is a session and a shell on the host.
    const r = await t.exec(`${mkdirs} && tar -xpof - -C ${shq(tmp)} && ${finishBundleCommand(tmp, bundle.hash)}`, {stdin: bundleTar(bundle), timeoutMs: 300_000})
    if (r.code !== 0) throw new HostFailure('failed', `could not unpack the bundle into ${bundleDir(bundle.hash)}: ${firstLine(r.stderr) || `exit code ${r.code}`}`)
    return
  }
  await check(t, mkdirs, 'create the bundle folder')
  if (t.putFiles) await t.putFiles(bundle.files, tmp) // one transfer where round trips are slow (SSM)
  else for (const f of bundle.files) await t.putFile(f.data, `${tmp}/${f.rel}`, f.mode)
  await check(t, finishBundleCommand(tmp, bundle.hash), `move the bundle into ${bundleDir(bundle.hash)}`)
}

async function uploadVars(t: Transport, vars: VarsUpload): Promise<void> {
  await check(t, mkdirCommand([`${REMOTE_ROOT}/vars`]), 'create the vars folder')
  await t.putFile(vars.data, varsPath(vars.hash), 0o600)
}

async function check(t: Transport, command: string, what: string): Promise<string> {
  const r = await t.exec(command, {timeoutMs: 60_000})
  if (r.code !== 0) throw new HostFailure('failed', `could not ${what}: ${firstLine(r.stderr) || `exit code ${r.code}`}`)
  return r.stdout
}

function firstLine(s: string): string {
  return s.split('\n').map((l) => l.trim()).find(Boolean) ?? ''
}

/** Start (or find) the agent run, then follow it to its end, restarting a run that stopped. */
async function driveAgent(hostId: number, t: Transport, node: string, opts: SessionOptions): Promise<HostState> {
  const {store, bundle} = opts
  // A previous fleet run was cut off while this host's agent was running: follow that run first.
  let run: string | undefined = store.unfinishedAgentRun(hostId, opts.mode)
  for (let restarts = 0; ; restarts++) {
    let status: number | undefined
    if (!run && restarts === 0 && opts.mode === 'run' && t.streams !== false) {
      // Start and follow in one exec and one Node.js process (streamingRunCommand).
      ;({run, status} = await startAndFollowAgent(hostId, t, node, opts))
    } else if (!run) {
      run = await startAgent(t, node, opts)
      store.setAgentRun(hostId, run, opts.mode)
    }
    // The journal is the truth: a stream that ended short (dropped, cut off) is made up by following it.
    if (status === undefined || !store.agentRunEnded(hostId, run)) status = await followAgent(hostId, t, node, run, opts)
    if (store.agentRunEnded(hostId, run)) return store.host(hostId)!.state
    if (status === 3 && restarts < 5) {
      // Interrupted (killed, host rebooted): `agent start` resumes the same run.
      run = undefined
      continue
    }
    throw new HostFailure('failed', `following the agent's run ${run} ended with exit code ${status} before the run did (bundle ${bundle.hash})`)
  }
}

function startArgs(opts: SessionOptions): string[] {
  const args = ['--playbook', `${bundleDir(opts.bundle.hash)}/${opts.bundle.playbookRel}`, '--json', ...opts.agentArgs]
  if (opts.vars) args.push('--vars', varsPath(opts.vars.hash))
  return args
}

async function startAgent(t: Transport, node: string, opts: SessionOptions): Promise<string> {
  const args = startArgs(opts)
  const command = opts.mode === 'undo' ? agentCommand(node, opts.bundle.hash, 'undo', ['--detach', ...args]) : agentCommand(node, opts.bundle.hash, 'start', args)
  const r = await withReconnect(t, opts, () => t.exec(command, {timeoutMs: 120_000}))
  if (r.code !== 0) throw new HostFailure('failed', firstLine(r.stderr).replace(/^Error: /, '') || `agent start failed with exit code ${r.code}`)
  const answer = parseStartAnswer(r.stdout.trim().split('\n').pop() ?? '')
  if (!answer || !('run' in answer)) throw new HostFailure('failed', `agent start gave no run id: ${r.stdout.slice(0, 200)}`)
  return answer.run
}

/**
 * Journal records into the store in batches: one transaction per batch, not per record.
 * A store that fails (its disk full) fails once: push and the timer run inside stream and
 * timer callbacks, where a throw would end the process with a stack trace, so they hand the
 * error to onFatal and take no more; the session's own flush() throws it.
 */
function recordSink(hostId: number, opts: SessionOptions): {push: (records: JournalRecord[]) => void; flush: () => void} {
  let batch: JournalRecord[] = []
  let timer: NodeJS.Timeout | undefined
  let failure: unknown
  const flush = () => {
    if (timer) clearTimeout(timer)
    timer = undefined
    if (failure !== undefined) throw failure
    if (!batch.length) return
    const records = batch
    batch = []
    try {
      opts.store.ingest(hostId, records)
    } catch (e) {
      failure = e
      opts.onFatal?.(e)
      throw e
    }
    opts.onRecords?.(records)
  }
  const quietFlush = () => {
    try {
      flush()
    } catch {
      // kept in `failure`: reported through onFatal, thrown by the next flush()
    }
  }
  const push = (records: JournalRecord[]) => {
    if (failure !== undefined) return
    batch.push(...records)
    if (batch.length >= BATCH_RECORDS) quietFlush()
    else if (!timer && batch.length) timer = setTimeout(quietFlush, BATCH_MS)
  }
  return {push, flush}
}

/**
 * Start the run and stream it (streamingRunCommand; output as `agent start --follow`'s):
 * its first line is start's answer (the run id, or an `error`), the rest the run's
 * journal records, and its exit code follow's. Returns the run and
 * that code; no code when the connection dropped after the run was known (the
 * caller follows it again from the last stored seq). A connection dropped before
 * the answer came starts again: a run already going on is found, not doubled.
 */
async function startAndFollowAgent(hostId: number, t: Transport, node: string, opts: SessionOptions): Promise<{run: string; status?: number}> {
  const command = streamingRunCommand(node, opts.bundle.hash, startArgs(opts))
  const sink = recordSink(hostId, opts)
  let run: string | undefined
  try {
    return await withReconnect(t, opts, async () => {
      let text = ''
      let stderr = ''
      let badAnswer: string | undefined
      let refused: string | undefined
      try {
        const r = await t.exec(command, {
          onStdout: (b) => {
            if (badAnswer !== undefined) return
            text += b.toString('utf8')
            if (!run) {
              const nl = text.indexOf('\n')
              if (nl < 0) return
              const line = text.slice(0, nl)
              text = text.slice(nl + 1)
              const answer = parseStartAnswer(line)
              if (answer && 'error' in answer) refused = answer.error
              if (!answer || !('run' in answer)) {
                badAnswer = line
                return
              }
              run = answer.run
              opts.store.setAgentRun(hostId, run, opts.mode)
            }
            const {records, rest} = splitRecords(text)
            text = rest
            sink.push(records)
          },
          onStderr: (b) => {
            if (stderr.length < 65_536) stderr += b.toString('utf8')
          },
        })
        sink.flush()
        if (refused !== undefined) throw new HostFailure('failed', refused)
        if (badAnswer !== undefined) throw new HostFailure('failed', `agent start gave no run id: ${badAnswer.slice(0, 200)}`)
        if (!run) throw new HostFailure('failed', firstLine(stderr).replace(/^Error: /, '') || `agent start failed with exit code ${r.code}`)
        return {run, status: r.code ?? 3}
      } catch (e) {
        // The run is going on: following it again is safe, starting it again is not.
        if (run && e instanceof ConnectionLostError) return {run}
        throw e
      }
    })
  } finally {
    sink.flush()
  }
}

/** Follow the journal into the store; returns `agent follow`'s exit code. Reconnects and resumes on a dropped connection. */
async function followAgent(hostId: number, t: Transport, node: string, run: string, opts: SessionOptions): Promise<number> {
  const {store} = opts
  if (t.streams === false) {
    // The transport gives output only when a command ends (SSM): poll the journal instead.
    const from = () => (store.host(hostId)?.agent_run === run ? store.host(hostId)!.last_seq : 0)
    const ingest = (records: JournalRecord[]) => {
      store.ingest(hostId, records)
      opts.onRecords?.(records)
    }
    return withReconnect(t, opts, () => pollFollow(t, {node, bundleHash: opts.bundle.hash, run, from, ingest}))
  }
  const sink = recordSink(hostId, opts)
  return withReconnect(t, opts, async () => {
    const stored = store.host(hostId)
    const from = stored?.agent_run === run ? stored.last_seq : 0
    let rest = ''
    try {
      const r = await t.exec(agentCommand(node, opts.bundle.hash, 'follow', ['--run', run, '--from', String(from)]), {
        onStdout: (b) => {
          const {records, rest: tail} = splitRecords(rest + b.toString('utf8'))
          rest = tail
          sink.push(records)
        },
        onStderr: () => undefined,
      })
      return r.code ?? 3
    } finally {
      sink.flush()
    }
  })
}

/**
 * Run fn; when the connection drops, reconnect with backoff and run it again.
 * Every fn here is safe to repeat: probes and uploads are idempotent, and
 * following again from the last stored seq loses and duplicates nothing.
 */
async function withReconnect<T>(t: Transport, opts: SessionOptions, fn: () => Promise<T>): Promise<T> {
  const attempts = opts.reconnectAttempts ?? 8
  const base = opts.reconnectBaseMs ?? 500
  for (let n = 0; ; n++) {
    try {
      return await fn()
    } catch (e) {
      if (!(e instanceof ConnectionLostError) || n >= attempts) throw e
      opts.onState?.('running', `connection lost; reconnecting (${n + 1}/${attempts})`)
      await new Promise((r) => setTimeout(r, Math.min(30_000, base * 2 ** n)))
      try {
        await t.connect()
      } catch (err) {
        if (n + 1 >= attempts) throw err
      }
    }
  }
}
