import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'

/** Build dist/ once before the suite: tests drive the real bundled binaries. */
export default async function setup(): Promise<void> {
  if (process.env.FLEET_SKIP_BUILD === '1' && existsSync('dist/agent/agent.mjs')) return
  execFileSync(process.execPath, ['scripts/build.mjs'], {stdio: 'inherit'})
}
