import type {PreparedStep} from '../playbook/prepare.js'
import type {RunMode, StepEndRecord} from '../protocol/index.js'
import {DiskFullError} from './disk-full.js'
import {bootId} from './facts.js'
import {runShell, type ShellResult} from './exec.js'
import type {JournalWriter} from './journal.js'
import {StepOutput} from './step-output.js'
import {fileUpToDate, writeRendered} from './builtins/template.js'
import {probe, waitFor} from './builtins/wait-for.js'

export interface StepContext {
  journal: JournalWriter
  logPath: string
  secrets: readonly string[]
  isRoot: boolean
  user: string
  index: number
  total: number
  /** For reboot steps on resume: the host has booted since this step asked for the reboot. */
  rebooted: boolean
  /** For undo of a step without a check: whether the journals say it was applied. */
  appliedByHistory: boolean
  /** The disk is full (the step failed with `fault`): called before its step-end is written, to make room for it. */
  onDiskFull?: (fault: DiskFullError) => void
}

export type StepOutcome = Pick<StepEndRecord, 'status' | 'reason' | 'exit_code' | 'attempts' | 'error'> & {
  /** The step failed because the agent could not write its log or journal: the run ends with this. */
  fault?: DiskFullError
}

const MAX_BACKOFF_MS = 60_000
const CHECK_TIMEOUT_MS = 300_000
const REBOOT_WAIT_MS = 600_000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Attempt {
  ok: boolean
  exit_code: number | null
  error?: string
}

/**
 * Run one step (or its undo), journaling start, output, retries and end. A full disk
 * under the step's log or the journal ends the step failed with that fault (its command
 * stopped, no retry); a step-start or step-end the disk refused throws the DiskFullError.
 */
export async function executeStep(p: PreparedStep, mode: RunMode, ctx: StepContext): Promise<StepOutcome> {
  const {step} = p
  const started = Date.now()
  ctx.journal.append({type: 'step-start', step: step.id, index: ctx.index, total: ctx.total, title: step.title, phase: step.phase, action: mode})
  const sudo = step.needs_root && !ctx.isRoot
  let outcome: StepOutcome
  let out: StepOutput | undefined
  try {
    out = new StepOutput(ctx.logPath, ctx.journal, step.id, ctx.secrets)
    out.note(`==== ${mode} ${step.id} (${step.title}) at ${new Date().toISOString()} ====`)
    outcome = await decide(p, mode, ctx, out, sudo)
    // Output was lost (even if the command went on to succeed): the step's record is not whole.
    if (out.fault && !outcome.fault) outcome = faulted(out.fault, outcome.attempts)
  } catch (e) {
    if (!(e instanceof DiskFullError)) throw e
    outcome = faulted(e, 0)
  } finally {
    out?.close()
  }
  const {fault, ...end} = outcome
  if (fault) ctx.onDiskFull?.(fault)
  ctx.journal.append({type: 'step-end', step: step.id, ...end, duration_ms: Date.now() - started})
  // On the disk while the next step starts (JournalWriter.syncBehind); a reboot below waits for it.
  ctx.journal.syncBehind()
  return outcome
}

function faulted(fault: DiskFullError, attempts: number): StepOutcome {
  return {status: 'failed', exit_code: null, attempts, error: fault.message, fault}
}

async function decide(p: PreparedStep, mode: RunMode, ctx: StepContext, out: StepOutput, sudo: boolean): Promise<StepOutcome> {
  const skipped = (reason: StepOutcome['reason'], exit_code: number | null = null): StepOutcome => ({status: 'skipped', reason, exit_code, attempts: 0})
  if (!p.enabled) return skipped('when')
  const command = (script: string) => () => shellAttempt(script, p.env, sudo, p.step.timeout_s * 1000, out, ctx.user)

  if (mode === 'undo') {
    if (!p.undo) return skipped('no-undo')
    if (p.check !== undefined) {
      if ((await quietCheck(p.check, p.env, sudo, out)).code !== 0) return skipped('not-applied')
    } else if (!ctx.appliedByHistory) return skipped('not-applied')
    return withRetries(p, ctx, out, command(p.undo))
  }

  if (p.reboot && ctx.rebooted) {
    out.note(`host booted again (boot id ${bootId()}); reboot step done`)
    return {status: 'ok', exit_code: 0, attempts: 1}
  }
  if (p.check !== undefined) {
    const c = await quietCheck(p.check, p.env, sudo, out)
    if (c.sudoNeedsPassword) return {status: 'failed', exit_code: c.code, attempts: 0, error: sudoMessage(ctx.user)}
    if (c.code === 0) return skipped('check', 0)
  } else if (p.template && (await fileUpToDate(p.template, sudo))) return skipped('check', 0)
  else if (p.wait_for && (await probe(p.wait_for, {sudo, env: p.env}))) return skipped('check', 0)

  let action: () => Promise<Attempt>
  if (p.run !== undefined) action = command(p.run)
  else if (p.template) {
    const t = p.template
    action = async () => {
      const error = await writeRendered(t, sudo)
      if (!error) out.note(`wrote ${t.dest}`)
      return {ok: !error, exit_code: error ? 1 : 0, error}
    }
  } else if (p.wait_for) {
    const w = p.wait_for
    action = async () => {
      const error = await waitFor(w, {sudo, env: p.env, onAttemptOutput: (t) => out.quiet(t)})
      return {ok: !error, exit_code: error ? 1 : 0, error}
    }
  } else {
    const cmd = p.reboot!.command
    action = async () => {
      ctx.journal.append({type: 'reboot', step: p.step.id, boot_id: bootId()})
      ctx.journal.sync()
      const r = await command(cmd)()
      if (!r.ok) return r
      // The reboot ends this process; if it is still here after the wait, the host did not go down.
      await sleep(REBOOT_WAIT_MS)
      return {ok: false, exit_code: null, error: `the reboot command returned but the host did not go down within ${REBOOT_WAIT_MS / 1000}s`}
    }
  }
  const verified = async (): Promise<Attempt> => {
    const a = await action()
    if (!a.ok || p.verify === undefined) return a
    out.note('---- verify ----')
    const v = await command(p.verify)()
    return v.ok ? a : {...v, error: `verify failed: ${v.error ?? `exit ${v.exit_code}`}`}
  }
  return withRetries(p, ctx, out, verified)
}

async function withRetries(p: PreparedStep, ctx: StepContext, out: StepOutput, attempt: () => Promise<Attempt>): Promise<StepOutcome> {
  const tries = p.step.retries + 1
  for (let n = 1; ; n++) {
    if (n > 1) out.note(`---- attempt ${n} of ${tries} ----`)
    let a: Attempt
    try {
      a = await attempt()
    } catch (e) {
      // No retry: another attempt would find the disk as full.
      if (e instanceof DiskFullError) return faulted(e, n)
      throw e
    }
    if (out.fault) return faulted(out.fault, n)
    if (a.ok) return {status: 'ok', exit_code: a.exit_code, attempts: n}
    if (n >= tries) return {status: 'failed', exit_code: a.exit_code, attempts: n, error: a.error}
    const delay = Math.min(MAX_BACKOFF_MS, Math.round(p.step.retry_delay_s * 1000 * 2 ** (n - 1)))
    ctx.journal.append({type: 'step-retry', step: p.step.id, attempt: n, exit_code: a.exit_code, error: a.error, delay_ms: delay})
    await sleep(delay)
  }
}

async function shellAttempt(script: string, env: Record<string, string>, sudo: boolean, timeoutMs: number, out: StepOutput, user: string): Promise<Attempt> {
  let r: ShellResult
  try {
    r = await runShell({script, env, sudo, timeoutMs, signal: out.signal, onStdout: (t) => out.write('stdout', t), onStderr: (t) => out.write('stderr', t)})
  } catch (e) {
    return {ok: false, exit_code: null, error: `cannot start the command: ${(e as Error).message}`}
  }
  out.flush()
  if (out.fault) throw out.fault
  if (r.code === 0) return {ok: true, exit_code: 0}
  let error = out.errorLine() ?? `exit code ${r.code ?? r.signal}`
  if (r.sudoNeedsPassword) error = sudoMessage(user)
  else if (r.timedOut) error = `timed out after ${Math.round(timeoutMs / 1000)}s; last output: ${error}`
  return {ok: false, exit_code: r.code, error}
}

function quietCheck(script: string, env: Record<string, string>, sudo: boolean, out: StepOutput): Promise<ShellResult> {
  let text = ''
  out.note('---- check ----')
  const collect = (t: string) => (text += t)
  return runShell({script, env, sudo, timeoutMs: CHECK_TIMEOUT_MS, signal: out.signal, onStdout: collect, onStderr: collect}).finally(() => out.quiet(text))
}

export function sudoMessage(user: string): string {
  return `steps that need root run through sudo, and sudo asks for a password for ${user}; give ${user} passwordless sudo (NOPASSWD) or run the agent as root`
}
