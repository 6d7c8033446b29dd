/*
 * The hosts file: `fleet prepare --hosts FILE` and friends. See load.ts for
 * loadInventory, merge.ts for the precedence of values, parse.ts for the two
 * accepted formats.
 */
export {loadInventory, type InventoryDefaults, type LoadInventoryOptions} from './load.js'
export {parseHostsText, detectFormat, type HostsFormat, type ParsedHosts} from './parse.js'
export type {ParsedHost, JumpTarget} from './fields.js'
export {InventoryError, type Problem, type Sourced} from './problems.js'
export {HostSpec, Inventory, JumpSpec, PRECEDENCE, type PrecedenceLevel, type Role, type Transport} from './schema.js'
