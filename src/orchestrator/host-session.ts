import {randomBytes} from 'node:crypto'
import {dirname} from 'node:path'
import {ListenerFailure, type HostEvents, type HostRef} from '../events/host-events.js'
import type {HostState} from '../events/host-state.js'
import {bundledPlaybook, bundleDir, bundleUploadDir, EXIT, parseStartAnswer, RUNTIME_NODE, splitRecords, VARS_DIR, varsPath, type AgentFlags, type JournalRecord, type StepSelection} from '../protocol/index.js'
import {ownNode, parseProbe, probeScript, MIN_NODE_MAJOR, type Probe} from '../remote-agent/probe.js'
import {cachedRuntime, fetchOnHostScript, installUploadedScript, RUNTIME_VERSION, runtimeArch, UPLOADED_RUNTIME} from '../remote-agent/runtime.js'
import {agentCommand, finishBundleCommand, firstErrorLine, mkdirCommand, streamingRunCommand, unpackBundleCommand, UPLOAD_FAILED, uploadThen, VARS_IN_TAR, writeFileCommand} from '../remote-agent/shell-commands.js'
import type {FleetStore} from '../store/store.js'
import {ConnectionLostError, TransportError, type Transport} from '../transport/types.js'
import {bundleTar, type Bundle} from './bundle.js'
import {pollFollow} from './follow-poll.js'

export interface VarsUpload {
  hash: string
  data: Buffer
}

export interface SessionOptions {
  mode: 'run' | 'undo'
  bundle: Bundle
  vars?: VarsUpload
  /** Passed through to `agent start` / `agent undo`: --only, --from-step, --to-step. */
  steps: StepSelection
  /** The fleet run's --request for the agent: a start asked again with it after a lost answer re-attaches (fleet-run agentRequest). */
  request?: string
  /** Where the session tells what happens (the store writer, the terminal, ...). */
  events: HostEvents
  /** What was recorded (read only): the run to re-attach to, the last stored seq. Written through `events`. */
  store: Pick<FleetStore, 'unfinishedAgentRun' | 'agentRunEnded' | 'host'>
  /** Reconnect attempts after a dropped connection before the host counts as unreachable. */
  reconnectAttempts?: number
  reconnectBaseMs?: number
  /** auto: the host's Node.js when it is 18+, else fleet's runtime; managed: always fleet's runtime. */
  runtime?: 'auto' | 'managed'
  /** Where hosts download the runtime from (an npm registry or a mirror of it). */
  runtimeMirror?: string
}

const MIN_FREE_KB = 200 * 1024

class HostFailure extends Error {
  constructor(
    readonly state: HostState,
    message: string,
  ) {
    super(message)
  }
}

/** One session's view of its host: the bus, the store, and its ref. */
interface Ctx extends SessionOptions {
  host: HostRef
  note: (state: HostState, text: string) => void
  /** Records to the bus from a stream callback, where a throw would end the process: a failed listener has stopped the run already, the next flush throws. */
  records: (records: JournalRecord[]) => void
  /** The vars file is on the host (sent on its own, or on the streaming start's stdin). */
  varsSent: boolean
  /** The bundle is not on the host yet and rides on the streaming start's stdin (one exec less per fresh host); gzip: the host has gzip. */
  upload?: {gzip: boolean}
}

/**
 * One host from connect to the end of its agent run: probe, upload the bundle
 * (once per content hash), start or re-attach to the agent, follow its journal
 * onto the event bus, and ride out dropped connections by reconnecting and
 * following again from the last stored seq.
 */
export async function runHostSession(host: HostRef, transport: Transport, opts: SessionOptions): Promise<HostState> {
  const {events} = opts
  const ctx: Ctx = {
    ...opts,
    host,
    note: (state, text) => events.emit({kind: 'note', host, state, text}),
    varsSent: !opts.vars,
    records: (records) => {
      try {
        if (records.length) events.emit({kind: 'records', host, records})
      } catch {
        // reported through the bus's onFailure; the next flush() throws it
      }
    },
  }
  const setState = (state: HostState, error?: string | null) => events.emit({kind: 'state', host, state, error})
  try {
    setState('connecting', null)
    await transport.connect()
    if (transport.hostKey) events.emit({kind: 'host-key', host, key: transport.hostKey})
    const probe = await withReconnect(transport, ctx, () => probeHost(transport, opts.bundle))
    const node = await withReconnect(transport, ctx, () => nodeFor(transport, probe, ctx))
    // A fresh host's bundle (and the vars file) goes on the streaming start's stdin: one exec for
    // upload and run. Any other start uploads first, and sends the vars file first (sendVars).
    if (!probe.bundlePresent && streamsStart(transport, ctx) && !transport.putFiles && !opts.store.unfinishedAgentRun(host.id, ctx.mode)) ctx.upload = {gzip: probe.gzip}
    else if (!probe.bundlePresent) await withReconnect(transport, ctx, () => uploadBundle(transport, opts.bundle, probe.gzip))
    setState('running')
    const state = await driveAgent(transport, node, ctx)
    events.emit({kind: 'done', host, state})
    return state
  } catch (e) {
    if (e instanceof ListenerFailure) throw e // not this host's failure: the whole run stops (fleet-run)
    const failure = e instanceof HostFailure ? e : e instanceof TransportError ? new HostFailure('unreachable', e.message) : new HostFailure('failed', (e as Error).message)
    setState(failure.state, failure.message)
    events.emit({kind: 'done', host, state: failure.state})
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
async function nodeFor(t: Transport, p: Probe, ctx: Ctx): Promise<string> {
  if (p.diskKb < MIN_FREE_KB) throw new HostFailure('failed', `only ${Math.round(p.diskKb / 1024)} MB free in the login's home (need ${MIN_FREE_KB / 1024} MB)`)
  const own = ownNode(p)
  if (own && ctx.runtime !== 'managed') return own
  if (p.runtime === RUNTIME_VERSION) return RUNTIME_NODE
  const arch = runtimeArch(p.arch)
  const why = p.node ? `Node.js ${p.node.version} at ${p.node.path}` : 'no Node.js'
  if (!arch) throw new HostFailure('failed', `${why} on the host and fleet has no runtime for ${p.arch}; install Node.js ${MIN_NODE_MAJOR}+ there`)
  ctx.note('connecting', `installing Node.js ${RUNTIME_VERSION} (${why} here)`)
  const fetched = await t.exec(fetchOnHostScript(arch, ctx.runtimeMirror), {timeoutMs: 600_000})
  if (fetched.code === 0) return RUNTIME_NODE
  // The host could not download it: send the instructor's copy, checked against the same pinned checksum.
  ctx.note('connecting', `the host could not download Node.js (${firstErrorLine(fetched.stderr) || `exit ${fetched.code}`}); uploading it`)
  let runtime = runtimeCache.get(arch)
  if (!runtime) runtimeCache.set(arch, (runtime = cachedRuntime(arch)))
  await t.putFile(await runtime, UPLOADED_RUNTIME, 0o600)
  await check(t, installUploadedScript(arch), `install the uploaded Node.js runtime`)
  return RUNTIME_NODE
}

/** One download of the fallback runtime per fleet process, however many hosts need it. */
const runtimeCache = new Map<string, Promise<Buffer>>()

/** A run on a transport that streams begins with the streaming start (startAndFollowAgent), unless an earlier run of the host's is followed first. */
function streamsStart(t: Transport, ctx: Ctx): boolean {
  return ctx.mode === 'run' && t.streams !== false
}

/** Where this upload unpacks, and the folders it needs there. */
function uploadPlace(bundle: Bundle): {tmp: string; dirs: string[]} {
  const tmp = bundleUploadDir(bundle.hash, randomBytes(4).toString('hex'))
  return {tmp, dirs: [...new Set(bundle.files.map((f) => dirname(`${tmp}/${f.rel}`)))]}
}

const unpackFailure = (bundle: Bundle, stderr: string, code: number | null) => new HostFailure('failed', `could not unpack the bundle into ${bundleDir(bundle.hash)}: ${firstErrorLine(stderr) || `exit code ${code}`}`)

async function uploadBundle(t: Transport, bundle: Bundle, gzip: boolean): Promise<void> {
  const {tmp, dirs} = uploadPlace(bundle)
  if (t.streams !== false && !t.putFiles) {
    // One exec for the lot: make the folders, unpack one tar stream, gzipped when the host has
    // gzip (less CPU on both ends than an SFTP write per file), move it into place. Each exec is
    // a session and a shell on the host.
    const r = await t.exec(unpackBundleCommand({tmp, hash: bundle.hash, dirs, gzip}), {stdin: bundleTar(bundle, gzip), timeoutMs: 300_000})
    if (r.code !== 0) throw unpackFailure(bundle, r.stderr, r.code)
    return
  }
  await check(t, mkdirCommand([VARS_DIR, ...dirs]), 'create the bundle folder')
  if (t.putFiles) await t.putFiles(bundle.files, tmp) // one transfer where round trips are slow (SSM)
  else for (const f of bundle.files) await t.putFile(f.data, `${tmp}/${f.rel}`, f.mode)
  await check(t, finishBundleCommand(tmp, bundle.hash), `move the bundle into ${bundleDir(bundle.hash)}`)
}

/** The vars file to the host before a start that cannot carry it itself (SSM, undo, a restart). */
async function sendVars(t: Transport, ctx: Ctx): Promise<void> {
  if (ctx.varsSent) return
  await withReconnect(t, ctx, () => uploadVars(t, ctx.vars!))
  ctx.varsSent = true
}

async function uploadVars(t: Transport, vars: VarsUpload): Promise<void> {
  if (t.streams !== false && !t.putFiles) {
    // One exec with the file on its stdin, instead of a mkdir exec and an SFTP channel.
    const r = await t.exec(writeFileCommand(VARS_DIR, varsPath(vars.hash)), {stdin: vars.data, timeoutMs: 60_000})
    if (r.code !== 0) throw new HostFailure('failed', `could not write the vars file ${varsPath(vars.hash)}: ${firstErrorLine(r.stderr) || `exit code ${r.code}`}`)
    return
  }
  await check(t, mkdirCommand([VARS_DIR]), 'create the vars folder')
  await t.putFile(vars.data, varsPath(vars.hash), 0o600)
}

async function check(t: Transport, command: string, what: string): Promise<string> {
  const r = await t.exec(command, {timeoutMs: 60_000})
  if (r.code !== 0) throw new HostFailure('failed', `could not ${what}: ${firstErrorLine(r.stderr) || `exit code ${r.code}`}`)
  return r.stdout
}

/** Start (or find) the agent run, then follow it to its end, restarting a run that stopped. */
async function driveAgent(t: Transport, node: string, ctx: Ctx): Promise<HostState> {
  const {store, bundle, host} = ctx
  // A previous fleet run was cut off while this host's agent was running: follow that run first.
  let run: string | undefined = store.unfinishedAgentRun(host.id, ctx.mode)
  for (let restarts = 0; ; restarts++) {
    let status: number | undefined
    if (!run && restarts === 0 && streamsStart(t, ctx)) {
      // Start and follow in one exec and one Node.js process (streamingRunCommand).
      ;({run, status} = await startAndFollowAgent(t, node, ctx))
    } else if (!run) {
      run = await startAgent(t, node, ctx)
      ctx.events.emit({kind: 'agent-run', host, run, mode: ctx.mode})
    }
    // The journal is the truth: a stream that ended short (dropped, cut off) is made up by following it.
    ctx.events.flush(host)
    if (status === undefined || !store.agentRunEnded(host.id, run)) status = await followAgent(t, node, run, ctx)
    ctx.events.flush(host)
    if (store.agentRunEnded(host.id, run)) return store.host(host.id)!.state
    if (status === EXIT.interrupted && restarts < 5) {
      // Interrupted (killed, host rebooted): `agent start` resumes the same run.
      run = undefined
      continue
    }
    // Its disk filled so far that not even the run's end could be journaled: no restart (it would fail the same way).
    if (status === EXIT.noSpace) throw new HostFailure('failed', `no space left on the host (its agent stopped run ${run} before it could record the end); free space there and run the same command again to resume it`)
    throw new HostFailure('failed', `following the agent's run ${run} ended with exit code ${status} before the run did (bundle ${bundle.hash})`)
  }
}

/** What start and undo are asked: the bundled playbook, the vars, the instructor's step selection. */
function runRequest(ctx: SessionOptions): AgentFlags['start'] & AgentFlags['undo'] {
  return {playbook: bundledPlaybook(ctx.bundle.hash, ctx.bundle.playbookRel), json: true, ...(ctx.vars ? {vars: varsPath(ctx.vars.hash)} : {}), ...ctx.steps, request: ctx.request}
}

async function startAgent(t: Transport, node: string, ctx: Ctx): Promise<string> {
  const {only: _o, 'from-step': _f, 'to-step': toStep, ...request} = runRequest(ctx)
  const command =
    ctx.mode === 'undo'
      ? agentCommand(node, ctx.bundle.hash, 'undo', {...request, 'to-step': toStep, detach: true})
      : agentCommand(node, ctx.bundle.hash, 'start', {...request, only: ctx.steps.only, 'from-step': ctx.steps['from-step']})
  await sendVars(t, ctx)
  const r = await withReconnect(t, ctx, () => t.exec(command, {timeoutMs: 120_000}))
  if (r.code !== 0) throw new HostFailure('failed', firstErrorLine(r.stderr) || `agent start failed with exit code ${r.code}`)
  const answer = parseStartAnswer(r.stdout.trim().split('\n').pop() ?? '')
  if (!answer || !('run' in answer)) throw new HostFailure('failed', `agent start gave no run id: ${r.stdout.slice(0, 200)}`)
  return answer.run
}

/**
 * Start the run and stream it (streamingRunCommand; output as `agent start --follow`'s):
 * its first line is start's answer (the run id, or an `error`), the rest the run's
 * journal records, and its exit code follow's. Returns the run and
 * that code; no code when the connection dropped after the run was known (the
 * caller follows it again from the last stored seq). A connection dropped before
 * the answer came starts again: a run already going on is found, not doubled.
 */
async function startAndFollowAgent(t: Transport, node: string, ctx: Ctx): Promise<{run: string; status?: number}> {
  const {'to-step': _t, ...request} = runRequest(ctx)
  const start = streamingRunCommand(node, ctx.bundle.hash, request)
  const withVars = (): {command: string; stdin?: Buffer} => {
    const vars = ctx.varsSent ? undefined : ctx.vars!
    if (ctx.upload) {
      // The bundle's tar rides on this exec's stdin, the vars file (0600) inside it, unpacked before the agent starts.
      const {tmp, dirs} = uploadPlace(ctx.bundle)
      const upload = unpackBundleCommand({tmp, hash: ctx.bundle.hash, dirs, gzip: ctx.upload.gzip, varsPath: vars && varsPath(vars.hash)})
      return {command: uploadThen(upload, start), stdin: bundleTar(ctx.bundle, ctx.upload.gzip, vars && {rel: VARS_IN_TAR, data: vars.data, mode: 0o600})}
    }
    // The vars file rides on this exec's stdin, written (0600, in a subshell: the run keeps the login's umask) before the agent starts.
    return vars ? {command: `(${writeFileCommand(VARS_DIR, varsPath(vars.hash))}) && ${start}`, stdin: vars.data} : {command: start}
  }
  let run: string | undefined
  try {
    return await withReconnect(t, ctx, async () => {
      let text = ''
      let stderr = ''
      let badAnswer: string | undefined
      let refused: string | undefined
      // A resumed run streams its journal from the start: what is stored already is no news to the listeners.
      let known = 0
      try {
        const {command, stdin} = withVars()
        const r = await t.exec(command, {
          stdin,
          onStdout: (b) => {
            if (badAnswer !== undefined) return
            text += b.toString('utf8')
            if (!run) {
              const nl = text.indexOf('\n')
              if (nl < 0) return
              const line = text.slice(0, nl)
              text = text.slice(nl + 1)
              // The agent answered: the upload and the write before it were done.
              ctx.varsSent = true
              ctx.upload = undefined
              const answer = parseStartAnswer(line)
              if (answer && 'error' in answer) refused = answer.error
              if (!answer || !('run' in answer)) {
                badAnswer = line
                return
              }
              run = answer.run
              try {
                ctx.events.emit({kind: 'agent-run', host: ctx.host, run, mode: ctx.mode})
                known = storedSeq(ctx, run)
              } catch {
                // reported through the bus; the flush below throws it
              }
            }
            const {records, rest} = splitRecords(text)
            text = rest
            ctx.records(known ? records.filter((r) => r.seq > known) : records)
          },
          onStderr: (b) => {
            if (stderr.length < 65_536) stderr += b.toString('utf8')
          },
        })
        ctx.events.flush(ctx.host)
        if (refused !== undefined) throw new HostFailure('failed', refused)
        if (badAnswer !== undefined) throw new HostFailure('failed', `agent start gave no run id: ${badAnswer.slice(0, 200)}`)
        if (!run && ctx.upload && r.code === UPLOAD_FAILED) throw unpackFailure(ctx.bundle, stderr, r.code)
        if (!run) throw new HostFailure('failed', firstErrorLine(stderr) || `agent start failed with exit code ${r.code}`)
        return {run, status: r.code ?? EXIT.interrupted}
      } catch (e) {
        // The run is going on: following it again is safe, starting it again is not.
        if (run && e instanceof ConnectionLostError) return {run}
        throw e
      }
    })
  } finally {
    ctx.events.flush(ctx.host)
  }
}

/** The last seq stored for this run (0 for none): where following it again starts. */
function storedSeq(ctx: Ctx, run: string): number {
  ctx.events.flush(ctx.host)
  const stored = ctx.store.host(ctx.host.id)
  return stored?.agent_run === run ? stored.last_seq : 0
}

/** Follow the journal onto the bus; returns `agent follow`'s exit code. Reconnects and resumes on a dropped connection. */
async function followAgent(t: Transport, node: string, run: string, ctx: Ctx): Promise<number> {
  if (t.streams === false) {
    // The transport gives output only when a command ends (SSM): poll the journal instead.
    return withReconnect(t, ctx, () => pollFollow(t, {node, bundleHash: ctx.bundle.hash, run, from: () => storedSeq(ctx, run), ingest: ctx.records}))
  }
  return withReconnect(t, ctx, async () => {
    let rest = ''
    try {
      const r = await t.exec(agentCommand(node, ctx.bundle.hash, 'follow', {run, from: storedSeq(ctx, run)}), {
        onStdout: (b) => {
          const {records, rest: tail} = splitRecords(rest + b.toString('utf8'))
          rest = tail
          ctx.records(records)
        },
        onStderr: () => undefined,
      })
      return r.code ?? EXIT.interrupted
    } finally {
      ctx.events.flush(ctx.host)
    }
  })
}

/**
 * Run fn; when the connection drops, reconnect with backoff and run it again.
 * Every fn here is safe to repeat: probes and uploads are idempotent, and
 * following again from the last stored seq loses and duplicates nothing.
 */
async function withReconnect<T>(t: Transport, ctx: Ctx, fn: () => Promise<T>): Promise<T> {
  const attempts = ctx.reconnectAttempts ?? 8
  const base = ctx.reconnectBaseMs ?? 500
  for (let n = 0; ; n++) {
    try {
      return await fn()
    } catch (e) {
      if (!(e instanceof ConnectionLostError) || n >= attempts) throw e
      ctx.note('running', `connection lost; reconnecting (${n + 1}/${attempts})`)
      await new Promise((r) => setTimeout(r, Math.min(30_000, base * 2 ** n)))
      try {
        await t.connect()
      } catch (err) {
        if (n + 1 >= attempts) throw err
      }
    }
  }
}
