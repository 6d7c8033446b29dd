import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {isAbsolute, resolve} from 'node:path'
import {withEngines} from '../playbook/engines.js'
import {loadPlaybook} from '../playbook/load.js'
import {scopeFor} from '../playbook/prepare.js'
import {renderText} from '../playbook/render.js'
import {gatherFacts} from './facts.js'
import {allRunIds, lastRunId, readMeta} from './runs.js'
import {StateDir} from './state-dir.js'
import type {LogsAnswer} from '../protocol/answers.js'
import {EXIT} from '../protocol/exit-codes.js'
import {UserError} from '../errors/user-error.js'

/** What `agent logs --json` prints (its type is the agent's contract with fleet). */
export type LogPaths = LogsAnswer

/**
 * The agent's state dir and the playbook's declared log paths on this host.
 * Without a playbook, the one of the last run is used. Without vars, the vars
 * file of the newest run of that playbook is used (a secret without a value in
 * the playbook comes from there), so `--playbook` alone renders what ran.
 */
export async function logPaths(opts: {stateDir: string; playbook?: string; vars?: string}): Promise<LogPaths> {
  const state = new StateDir(resolve(opts.stateDir))
  const out: LogPaths = {state_dir: state.root, paths: []}
  const last = lastRunId(state)
  const playbook = opts.playbook ? resolve(opts.playbook) : last ? readMeta(state, last)?.playbook_path : undefined
  if (!playbook) return out
  out.playbook = playbook
  const vars = opts.vars ? resolve(opts.vars) : varsOfNewestRun(state, playbook)
  if (vars) out.vars = vars
  try {
    const paths = await withEngines(() => {
      const pb = loadPlaybook(playbook, vars)
      const scope = scopeFor(pb, gatherFacts())
      return pb.logs.map((l) => renderText(l, scope).trim()).filter(Boolean)
    })
    out.paths = [...new Set(paths.map((p) => (isAbsolute(p) ? resolve(p) : resolve(homedir(), p))))]
  } catch (e) {
    // A playbook that no longer loads (or a path that no longer renders) still leaves the state dir to collect.
    out.error = (e as Error).message.replace(/^Error: /, '')
  }
  return out
}

/** `agent logs` output: the JSON answer (exit 2 when the playbook would not load), or lines; returns the exit code. */
export function printLogPaths(info: LogPaths, json: boolean, print: (text: string) => void): number {
  if (json) {
    print(JSON.stringify(info) + '\n')
    return info.error ? EXIT.badInput : EXIT.ok
  }
  if (info.error) throw new UserError(info.error)
  print(`state dir: ${info.state_dir}\n`)
  if (info.playbook) print(`playbook: ${info.playbook}${info.vars ? ` (vars ${info.vars})` : ''}\n`)
  for (const p of info.paths) print(`log path: ${p}\n`)
  return EXIT.ok
}

function varsOfNewestRun(state: StateDir, playbook: string): string | undefined {
  for (const run of allRunIds(state).reverse()) {
    const meta = readMeta(state, run)
    if (meta?.playbook_path === playbook) return meta.vars_path && existsSync(meta.vars_path) ? meta.vars_path : undefined
  }
  return undefined
}
