import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterAll, expect} from 'vitest'
import {InventoryError, type LoadInventoryOptions} from '../../src/inventory/index.js'

/**
 * Fresh folders for inventory tests, each with its own ~/.ssh, removed after
 * the file's tests. `options()` loads relative paths as a user types them, so
 * messages say "hosts.txt:4".
 */
export function workspaces(prefix: string) {
  const root = mkdtempSync(join(tmpdir(), prefix))
  afterAll(() => rmSync(root, {recursive: true, force: true}))
  let n = 0
  return () => {
    const dir = join(root, String(n++))
    mkdirSync(join(dir, '.ssh'), {recursive: true})
    const write = (name: string, text: string) => {
      const path = join(dir, name)
      mkdirSync(dirname(path), {recursive: true})
      writeFileSync(path, text)
      return path
    }
    const env = {HOME: dir, USER: 'instructor'}
    const options = (more: LoadInventoryOptions = {}): LoadInventoryOptions => ({env, sshConfigPath: null, cwd: dir, ...more})
    return {dir, write, env, options, config: join(dir, '.ssh/config')}
  }
}

/** The sentences of the InventoryError that `load` throws. */
export function problemsOf(load: () => unknown): string[] {
  try {
    load()
  } catch (error) {
    expect(error).toBeInstanceOf(InventoryError)
    return (error as InventoryError).message.split('\n')
  }
  throw new Error('expected an InventoryError')
}
