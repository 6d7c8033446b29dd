export * from './records.js'
export * from './parse.js'
export * from './fold.js'
export * from './start-answer.js'
