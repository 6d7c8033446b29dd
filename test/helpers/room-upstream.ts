/** What the room cache's system tests share: a command as a host's user, and the root-only "upstream" git repository. */
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import type {Server} from 'node:http'
import {join} from 'node:path'
import type {LocalHost, LocalHostSet} from '../../testbed/index.js'
import {processesWith} from './processes.js'

/** Run a command, resolve with its exit code and output (never rejects). */
export function run(cmd: string, args: string[], opts: {cwd?: string; timeoutMs?: number} = {}): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, LC_ALL: 'C'}})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    })
  })
}

/** A shell script as a host's user (bash -eo pipefail), in DIR. */
export const asUser = (h: LocalHost, dir: string, script: string) => run('sudo', ['-u', h.user, '-H', 'bash', '-eo', 'pipefail', '-c', `cd ${dir} && ${script}`])

/**
 * A bare repository of COMMITS commits under DIR/upstream (mode 0700: root only, so a host's
 * clone that works came through the cache). Returns its path and HEAD.
 */
export function upstreamRepo(dir: string, commits: number): {path: string; head: string} {
  const up = join(dir, 'upstream')
  mkdirSync(up, {mode: 0o700})
  const path = join(up, 'demo.git')
  const seed = join(dir, 'seed')
  const git = (args: string[], cwd?: string) => {
    const r = spawnSync('git', args, {cwd, encoding: 'utf8', env: {...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@e', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@e'}})
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`)
    return r.stdout.trim()
  }
  git(['init', '-q', '-b', 'main', seed])
  for (let i = 1; i <= commits; i++) {
    writeFileSync(join(seed, `file${i}.txt`), `${randomBytes(16).toString('hex')}\n`)
    git(['add', '.'], seed)
    git(['commit', '-q', '-m', `commit ${i}`], seed)
  }
  git(['clone', '-q', '--bare', seed, path])
  rmSync(seed, {recursive: true, force: true})
  return {path, head: git(['rev-parse', 'HEAD'], path)}
}

/**
 * The end of a room cache test: any server still running from WORK stopped, the hosts stopped,
 * the local upstream closed, and the cache's file systems under WORK unmounted (a failed
 * cleanup may leave them) before DIR is removed.
 */
export async function tearDownRoom(parts: {set?: LocalHostSet; upstream?: Server; dir: string; work: string}): Promise<void> {
  // A server the cache's cleanup did not stop (it failed, or never ran) still runs from WORK.
  if (parts.work) {
    for (const pid of processesWith(parts.work)) {
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        // gone
      }
    }
  }
  await parts.set?.stop()
  const up = parts.upstream
  await new Promise<void>((r) => (up ? up.close(() => r()) : r()))
  if (!parts.dir) return
  for (const m of readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(` ${parts.work}/`))) spawnSync('umount', [m.split(' ')[1]!])
  rmSync(parts.dir, {recursive: true, force: true})
}
