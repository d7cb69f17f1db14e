/** The public API of the service: the only module the chat transports in `bots/` may import. */
export { type App, type AppOptions, CONSOLE_USER, createApp } from './app.js';
export type { CommandContext, CommandService, Delivery } from './commands/service.js';
export type { AccountRow, CommandReply, CredentialRow, PositionRow } from './commands/types.js';
export { type Config, ConfigError, loadConfig } from './config.js';
export { looksLikeSignal, parseAlert } from './domain/alerts.js';
export type { CommandName, ParsedCommand, UsageError } from './domain/commands.js';
export { addressedTo, COMMANDS, helpText, parseCommand, USAGE } from './domain/grammar.js';
export { PRODUCTS } from './domain/symbols.js';
export type { Platform, Principal, Role, Signal, SignalSource } from './domain/types.js';
export { ROLES, SIGNAL_FRESH_MS } from './domain/types.js';
export { alertDedupKeys, type DedupKeys } from './engine/idempotency.js';
export type { AccountOutcome, FanoutProgress, FanoutSummary, ReasonCount } from './engine/summary.js';
export { createLogger, type Logger } from './log.js';
export type { Destination, Notification, Notifier } from './ports/notifier.js';
