import {redact} from './redact.js'
import {answerStarter, type HandshakeMessage} from './detach.js'
import {DiskFullError} from './disk-full.js'
import {exitCodeFor, followJournal} from './follow.js'
import {HumanOutput} from './human-output.js'
import {JournalStream} from './journal-stream.js'
import {readJournal} from './journal.js'
import {checkSudo, executeRun, prepareRun, type PreparedRun, type RunRequest, type RunResult, type StartOutcome} from './run.js'
import {StateDir} from './state-dir.js'
import {UserError} from '../errors/user-error.js'
import {refusalLine, startAnswerLine} from '../protocol/start-answer.js'
import {EXIT} from '../protocol/exit-codes.js'
import type {PlanAnswer, PlanAnswerArtifact, PlanAnswerStep} from '../protocol/plan-answer.js'
import {scopeFor} from '../playbook/prepare.js'
import {renderText} from '../playbook/render.js'
import {withEngines} from '../playbook/engines.js'
import {compilePlaybook} from '../playbook/load.js'
import type {CompiledPlaybook} from '../playbook/types.js'

type Print = (text: string) => void

/** Where a streaming run writes (the exec's stdout, given as fd 3 so stdout can go to a file). */
const STREAM_FD = 3

export interface ForegroundOptions {
  json: boolean
  dryRun: boolean
  /** Started by `agent start`: answer it on fd 3 once the run is known. */
  detachedChild: boolean
  /** With detachedChild: keep fd 3 open and stream the run's journal on it (see JournalStream). */
  stream?: boolean
}

/** `agent run` / `agent undo` in the foreground (or as the detached child of `agent start`). */
export async function runInForeground(req: RunRequest, opts: ForegroundOptions, print: Print): Promise<number> {
  if (opts.detachedChild) ignoreStrayOutputErrors()
  if (opts.detachedChild && opts.stream) return runStreaming(req)
  let prepared: PreparedRun
  try {
    // A dry run checks the YAML itself, whatever compiled form lies beside it, and answers what it compiled.
    const compiled = opts.dryRun ? await withEngines(() => compilePlaybook(req.playbookPath)) : undefined
    prepared = await withEngines(() => prepareRun(req, compiled))
    if (opts.dryRun) {
      // The plan renders the playbook's log paths and artifact URLs: what they need is loaded here.
      await withEngines(() => [renderedLogs(prepared), renderedArtifacts(prepared)])
      printPlan(prepared, opts.json ? compiled : undefined, print)
      return 0
    }
    checkSudo(prepared)
  } catch (e) {
    if (opts.detachedChild && e instanceof UserError) {
      answerStarter({kind: 'error', message: e.message, exitCode: e.exitCode})
      return e.exitCode
    }
    throw e
  }
  let already: HandshakeMessage | undefined
  let started = false
  const human = new HumanOutput()
  let result: RunResult | undefined
  try {
    result = await executeRun(prepared, {
      onStart: (o) => {
        started = true
        if (opts.detachedChild) answerStarter(o)
        if (o.kind === 'already-running') already = o
        // This request's run ended before: what it did is its journal, printed as the run would have.
        if (o.kind === 'ended' && !opts.detachedChild) for (const r of readJournal(new StateDir(req.stateDir).journal(o.run))) print(opts.json ? JSON.stringify(r) + '\n' : human.text(r))
      },
      onRecord: opts.detachedChild ? undefined : (r) => print(opts.json ? JSON.stringify(r) + '\n' : human.text(r)),
    })
  } catch (e) {
    // The disk refused the lock, the reserve or the run's files: no run began, nothing changed.
    if (opts.detachedChild && !started && e instanceof DiskFullError) {
      answerStarter({kind: 'error', message: e.message, exitCode: e.exitCode})
      return e.exitCode
    }
    throw e
  }
  // Its records say it (the step's and the run's error); the command ends with the sentence too.
  if (result?.fault && !opts.detachedChild) throw result.fault
  if (!result) {
    if (!opts.detachedChild && already?.kind === 'already-running') {
      throw new UserError(`A run is already going on this host: ${already.run ?? '(starting)'} (pid ${already.pid}); watch it with "agent follow" or wait for it to end.`, EXIT.busy)
    }
    return EXIT.busy
  }
  return runExitCode(result)
}

function runExitCode(result: RunResult): number {
  return result.fault ? result.fault.exitCode : exitCodeFor(result.status)
}

/**
 * A detached run's stdout and stderr are a file in the home (agent.out): on a full
 * disk a write there fails, and an unheard stream error would end the run with a
 * stack trace nobody can read. What matters goes to the journal or the starter.
 */
function ignoreStrayOutputErrors(): void {
  for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined)
}

/**
 * The run fleet starts over SSH: already detached by the caller (`setsid`, stdin and
 * stray output away from the session), it writes `agent start --follow`'s output to
 * fd 3 (start's answer line, then the run's journal records) and exits with follow's
 * code. One Node.js process per host where start and the detached run took two. The
 * records come straight from the journal writer, not by polling the file; a run
 * already going on is followed instead. Bad input is an `{"error"}` answer line, and so
 * is a start the full disk refused (EXIT.noSpace); a run the disk stopped ends its stream
 * with its run-end (error "no space left on the host: PATH") and exits EXIT.noSpace.
 */
async function runStreaming(req: RunRequest): Promise<number> {
  const out = new JournalStream(STREAM_FD)
  try {
    let prepared: PreparedRun
    try {
      prepared = await withEngines(() => prepareRun(req))
      checkSudo(prepared)
    } catch (e) {
      if (!(e instanceof UserError)) throw e
      out.text(refusalLine(e.message, e.exitCode))
      return e.exitCode
    }
    const state = new StateDir(req.stateDir)
    let already: StartOutcome | undefined
    let started = false
    let result: RunResult | undefined
    try {
      result = await executeRun(prepared, {
        onStart: (o) => {
          started = true
          out.text(startAnswerLine(o))
          if (o.kind === 'already-running') already = o
          else out.journalFile(state.journal(o.run))
        },
        onRecord: (r) => out.record(r.seq, JSON.stringify(r)),
      })
    } catch (e) {
      // A start the full disk refused is an answer line, like bad input.
      if (started || !(e instanceof DiskFullError)) throw e
      out.text(refusalLine(e.message, e.exitCode))
      return e.exitCode
    }
    if (result) return runExitCode(result)
    if (!already?.run) return EXIT.busy
    return exitCodeFor(await followJournal(state, already.run, 0, (line) => out.text(line)))
  } finally {
    await out.end()
  }
}

/** The playbook's declared log paths, rendered for this host (what collect-logs fetches). */
function renderedLogs(p: PreparedRun): string[] {
  const scope = scopeFor(p.playbook, p.facts)
  return p.playbook.logs.map((l) => renderText(l, scope))
}

/** The playbook's artifacts with their vars' URLs as this host would fetch them. */
function renderedArtifacts(p: PreparedRun): PlanAnswerArtifact[] {
  const scope = scopeFor(p.playbook, p.facts)
  const url = (name: string) => String(scope[name] ?? '')
  return p.playbook.artifacts.map((a) => ({...a, url: url(a.var), ...(a.checksum_var ? {checksum_url: url(a.checksum_var)} : {})}))
}

/** The plan: as JSON (the PlanAnswer, with the compiled playbook) when `compiled` is given, else as text. */
function printPlan(p: PreparedRun, compiled: CompiledPlaybook | undefined, print: Print): void {
  const secrets = p.playbook.secretValues
  const steps = p.steps.map((s, i): PlanAnswerStep => ({
    index: i + 1,
    id: s.step.id,
    title: s.step.title,
    phase: s.step.phase,
    enabled: s.enabled,
    needs_root: s.step.needs_root,
    check: s.check && redact(s.check, secrets),
    [p.req.mode === 'undo' ? 'undo' : 'run']: redact((p.req.mode === 'undo' ? s.undo : s.run) ?? '', secrets) || undefined,
    verify: s.verify && redact(s.verify, secrets),
    template: s.template && {dest: s.template.dest, mode: s.template.mode?.toString(8), content: redact(s.template.content, secrets)},
    wait_for: s.wait_for,
    reboot: s.reboot,
  }))
  if (compiled) {
    const answer: PlanAnswer = {playbook: p.playbook.name, mode: p.req.mode, facts: p.facts, logs: renderedLogs(p), files: p.playbook.bundleFiles, artifacts: renderedArtifacts(p), steps, compiled: compiled as unknown as Record<string, unknown>}
    print(JSON.stringify(answer) + '\n')
    return
  }
  print(`Dry run of playbook ${p.playbook.name} (${p.req.mode}), ${steps.length} steps; nothing is changed.\n`)
  print(`Its bundle ships from ${p.playbook.dir}: ${p.playbook.bundleFiles.join(', ')}.\n`)
  for (const s of steps) {
    print(`[${s.index}/${steps.length}] ${s.id}: ${s.title}${s.enabled ? '' : ' (skipped: condition false)'}${s.needs_root ? ' [root]' : ''}\n`)
    for (const key of ['check', 'run', 'undo', 'verify'] as const) {
      const v = (s as Record<string, unknown>)[key]
      if (typeof v === 'string') print(`    ${key}: ${v.replace(/\n/g, '\n      ')}\n`)
    }
    if (s.template) print(`    template -> ${s.template.dest}\n      ${s.template.content.replace(/\n/g, '\n      ')}\n`)
    if (s.wait_for) print(`    wait for ${s.wait_for.tcp ? `tcp ${s.wait_for.tcp.host}:${s.wait_for.tcp.port}` : s.wait_for.command} (up to ${s.wait_for.timeout_s}s)\n`)
    if (s.reboot) print(`    reboot: ${s.reboot.command}\n`)
  }
}
