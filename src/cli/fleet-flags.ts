import {Flags} from '@oclif/core'

export const dbFlag = Flags.string({description: "The instructor's SQLite record of the room.", env: 'FLEET_DB', default: './fleet.db'})
export const jsonFlag = Flags.boolean({description: 'Print JSON for scripts instead of tables.'})
