/** Every table, for drizzle's relational queries and for drizzle-kit. */
export * from './brokers.js';
export * from './channels.js';
export * from './signals.js';
export * from './system.js';
export * from './users.js';
export * from './web.js';
