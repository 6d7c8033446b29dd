/**
 * `--transport ssm --targets tag:KEY=VALUE`: every managed instance with that
 * tag, resolved to instance ids before the run, so each instance is its own
 * host (its own row in the database, `--only failed` works on it).
 */
import type {HostSpec} from '../inventory/index.js'
import {UserError} from '../errors/user-error.js'
import {SsmContext, type SsmSettings} from '../transport/ssm-client.js'

const TAG_TARGET = /^tag:([^=]+)=(.+)$/

/** Parse `tag:KEY=VALUE[,VALUE...]`. */
function parseTargets(targets: string): {key: string; values: string[]} {
  const m = TAG_TARGET.exec(targets.trim())
  const values = m ? m[2]!.split(',').map((v) => v.trim()).filter(Boolean) : []
  if (!m || !m[1]!.trim() || !values.length) throw new UserError(`--targets: "${targets}" is not tag:KEY=VALUE (for example tag:Workshop=bifrost; several values: tag:Room=a,b).`)
  return {key: m[1]!.trim(), values}
}

/** The hosts for `--targets`: named by instance id, sorted. */
export async function ssmTargetHosts(targets: string, settings: SsmSettings): Promise<HostSpec[]> {
  const {key, values} = parseTargets(targets)
  const ctx = SsmContext.shared(settings)
  const {region} = await ctx.check()
  let list
  try {
    list = await ctx.instancesWithTag(key, values)
  } catch (e) {
    const err = e as Error & {name?: string}
    throw new UserError(`--targets ${targets}: Systems Manager in ${region} refused to list instances (${err.name ?? 'Error'}: ${err.message.split('\n')[0]}).`)
  }
  const ids = [...new Set(list.map((i) => i.InstanceId).filter((id): id is string => !!id))].sort()
  if (!ids.length) throw new UserError(`--targets ${targets}: no instance managed by Systems Manager in ${region} has that tag.`)
  return ids.map((id) => ({name: id, address: id, port: 22, user: 'root', identityFiles: [], transport: 'ssm' as const, source: {file: `--targets ${targets}`, line: 1}}))
}
