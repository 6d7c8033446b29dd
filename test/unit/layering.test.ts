import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, normalize, relative} from 'node:path'
import {describe, expect, it} from 'vitest'

// The shape of the code, read from its imports: folders in layers, each importing only
// folders below it. `npx vitest run test/unit/layering.test.ts` is the check.
const ROOT = join(import.meta.dirname, '..', '..')

/** Bottom first: a folder may import its own files and the folders before it, never one after it. */
const LAYERS = [
  'src/protocol', // the agent's written contract: journal records, command line, answers, folders on a host
  'src/errors',
  'src/shell',
  'src/archive',
  'src/events', // host states and the host event bus
  'src/playbook',
  'src/inventory',
  'src/transport',
  'src/store',
  'src/agent', // the per-host agent
  'src/remote-agent', // what the instructor side does to reach an agent: probe, runtime, its command lines
  'src/hosts', // from a hosts file (or SSM tags) to transports
  'src/room-cache', // the room cache: what it mirrors, where hosts are pointed, its figures
  'src/ui',
  'src/dashboard', // fleet dashboard: the room's live web page (server, event stream, the page's files)
  'src/logs',
  'src/orchestrator',
  'src/demo',
  'src/command-kit', // what the oclif commands build on
  'commands',
  'src/cli', // the entry points' wiring: fast paths, oclif, command lists
  'bin',
]

/** The agent runs on hosts with nothing of the instructor's side: these are all it may import. */
const AGENT_MAY_IMPORT = ['src/agent', 'src/protocol', 'src/playbook', 'src/errors', 'src/shell']

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((n) => {
    const rel = join(dir, n)
    if (statSync(join(ROOT, rel)).isDirectory()) return files(rel)
    return /\.(ts|mjs)$/.test(n) || dir === 'bin' ? [rel] : []
  })
}

/** Every relative import of a file (static, type-only and dynamic), as paths from the root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!)
  return specs.map((s) => normalize(join(dirname(file), s)))
}

function folderOf(path: string): string | undefined {
  return [...LAYERS, 'testbed'].filter((f) => path === f || path.startsWith(`${f}/`)).sort((a, b) => b.length - a.length)[0]
}

const product = [...files('src'), ...files('commands'), ...files('bin')]
const arrows = product.flatMap((file) => importsOf(file).map((to) => ({file, to, from: folderOf(file), target: folderOf(to)})))

describe('layering', () => {
  it('knows every folder of the product', () => {
    const unknown = [...new Set(product.filter((f) => !folderOf(f)).map((f) => dirname(f)))]
    expect(unknown).toEqual([])
    expect(arrows.length).toBeGreaterThan(100)
  })

  it('no import runs upward between folders', () => {
    const upward = arrows.filter((a) => a.from && a.target && a.target !== 'testbed' && LAYERS.indexOf(a.target) > LAYERS.indexOf(a.from))
    expect(upward.map((a) => `${a.file} -> ${relative(ROOT, join(ROOT, a.to))}`)).toEqual([])
  })

  it('the ui never imports the orchestrator', () => {
    expect(arrows.filter((a) => a.from === 'src/ui' && a.target === 'src/orchestrator')).toEqual([])
  })

  it('the agent imports nothing of the instructor side', () => {
    const bad = arrows.filter((a) => a.from === 'src/agent' && !AGENT_MAY_IMPORT.includes(a.target ?? ''))
    expect(bad.map((a) => `${a.file} -> ${a.to}`)).toEqual([])
  })

  it('src/ reaches the test bed only from fleet demo, by types (its code is loaded from its own build at run time)', () => {
    const into = arrows.filter((a) => a.target === 'testbed')
    expect(into.map((a) => a.file)).toEqual(['src/demo/run-demo.ts'])
    const text = readFileSync(join(ROOT, 'src/demo/run-demo.ts'), 'utf8')
    expect(text).toMatch(/import type [^\n]+ from '\.\.\/\.\.\/testbed\//)
    expect(text).not.toMatch(/^import (?!type)[^\n]+ from '\.\.\/\.\.\/testbed\//m)
  })

  it('the fleet build carries no test bed', () => {
    const dist = join(ROOT, 'dist', 'fleet')
    const text = readdirSync(dist)
      .map((n) => readFileSync(join(dist, n), 'utf8'))
      .join('\n')
    expect(text).toContain('collect-logs') // a real build was read
    expect(text).not.toMatch(/useradd|visudo|sshd_config/)
  })
})
