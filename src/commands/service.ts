/**
 * The one command layer. Every transport (Discord, Telegram, the console, the webhook) turns what
 * it received into a Principal and a command, calls this, and renders the plain data it returns.
 * Authorization happens here, deny by default; transports decide no permissions.
 */
import { randomUUID } from 'node:crypto';
import { checkBroadcast, checkCommand, checkTargetAll, type Denial } from '../auth/policy.js';
import type { AccountRef, Broker } from '../brokers/broker.js';
import type { Clock } from '../domain/clock.js';
import type { ParsedCommand } from '../domain/commands.js';
import { helpText, parseCommand, USAGE } from '../domain/grammar.js';
import type {
  Account,
  BrokerName,
  Platform,
  Principal,
  Role,
  Signal,
  SignalSource,
} from '../domain/types.js';
import type { Engine, SubmitHooks } from '../engine/engine.js';
import { runPool } from '../engine/pool.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../ports/notifier.js';
import type { AccountRow, CommandReply, CredentialRow, PositionRow } from './types.js';

interface UserView {
  readonly id: string;
  readonly displayName: string;
  readonly roles: readonly Role[];
}

/** What the command layer needs from storage; the repositories in `db/` provide it. */
export interface CommandStores {
  readonly users: {
    findByIdentity(platform: Platform, externalId: string): Promise<UserView | null>;
    ensureIdentityUser(
      platform: Platform,
      externalId: string,
      displayName: string,
      roles: readonly Role[],
    ): Promise<UserView>;
    grantRole(userId: string, role: Role, grantedBy: string | null): Promise<boolean>;
    revokeRole(userId: string, role: Role): Promise<boolean>;
  };
  readonly accounts: {
    listForUser(userId: string): Promise<Account[]>;
    listAll(): Promise<Account[]>;
    listSubscribedTo(channelId: string): Promise<Account[]>;
  };
  readonly channels: {
    find(
      platform: Platform,
      chatId: string,
      role: 'signal' | 'report',
    ): Promise<{ id: string; reportChannelId: string | null } | null>;
    get(id: string): Promise<{ platform: Platform; chatId: string } | null>;
    register(input: {
      platform: Platform;
      chatId: string;
      role: 'signal' | 'report';
      title?: string | null;
    }): Promise<{ id: string }>;
    addProvider(channelId: string, userId: string): Promise<unknown>;
    removeProvider(channelId: string, userId: string): Promise<unknown>;
    isProvider(channelId: string, userId: string): Promise<boolean>;
    subscribe(accountId: string, channelId: string): Promise<unknown>;
    unsubscribe(accountId: string, channelId: string): Promise<unknown>;
  };
  readonly credentials: {
    list(filter?: { ownerUserId?: string }): Promise<
      {
        id: string;
        label: string;
        broker: string;
        state: string;
        tokenExpiresAt: Date | null;
        tokenSource: string | null;
      }[]
    >;
  };
  readonly audit: {
    record(event: {
      actor: string;
      action: string;
      subject: string;
      details?: Record<string, unknown>;
    }): Promise<unknown>;
  };
}

/** A short-lived URL handed out in chat, and when it stops working. */
export interface IssuedLink {
  readonly url: string;
  readonly expiresAt: Date;
}

/**
 * Issues the links `/link` and `/dashboard` reply with; the web server provides it. Each link is bound
 * to the user and remembers who asked, so the outcome can be told back in chat.
 */
export interface LinkIssuer {
  /** A link that starts Tradovate OAuth linking for the user; null when linking is not configured. */
  linkUrl(userId: string, requestedBy: Principal): Promise<IssuedLink | null>;
  /** A single-use link that signs the user in to the dashboard. */
  dashboardUrl(userId: string, requestedBy: Principal): Promise<IssuedLink>;
}

export interface CommandServiceOptions {
  readonly stores: CommandStores;
  readonly engine: Engine;
  readonly brokers: ReadonlyMap<BrokerName, Broker>;
  readonly clock: Clock;
  readonly log: Logger;
  /** A fan-out to more accounts than this asks for confirmation first. */
  readonly confirmAboveAccounts: number;
  readonly confirmTtlMs?: number;
  /** The web server's links for `/link` and `/dashboard`; without it both say the web server is off. */
  readonly links?: LinkIssuer;
  /** Where channel broadcasts also report (a signal channel's report channel). */
  readonly notifier?: Notifier;
}

export interface CommandContext {
  /** Idempotency key of the delivery (interaction id, chat+message id); generated when absent. */
  readonly dedupKey?: string;
  /** Earlier keys that also identify this delivery (see `alertDedupKeys`). */
  readonly priorDedupKeys?: readonly string[];
  /** Where a trading command came from; `command` unless it is a forwarded alert. */
  readonly source?: SignalSource;
  /** A token from an earlier `confirm` reply: runs the confirmed command. */
  readonly confirmToken?: string;
  readonly hooks?: SubmitHooks;
  /** Bot name for `/cmd@bot` forms. */
  readonly botName?: string;
  /** When the sender sent it, by the platform's clock (see `SignalEnvelope.sentAt`). */
  readonly sentAt?: Date;
}

/** How a signal arrived: its dedup keys and source, and where progress goes. */
export interface Delivery {
  readonly dedupKey: string;
  readonly priorDedupKeys?: readonly string[];
  readonly source: SignalSource;
  readonly hooks?: SubmitHooks;
  /** When the sender sent it, by the platform's clock (see `SignalEnvelope.sentAt`). */
  readonly sentAt?: Date;
}

interface PendingConfirmation {
  readonly principalKey: string;
  readonly command: ParsedCommand;
  readonly expiresAt: number;
}

const principalKey = (p: Principal) => `${p.platform}:${p.userId}`;

export class CommandService {
  private readonly confirmations = new Map<string, PendingConfirmation>();
  private readonly confirmTtlMs: number;

  constructor(private readonly options: CommandServiceOptions) {
    this.confirmTtlMs = options.confirmTtlMs ?? 60_000;
  }

  /** Parse and run one command line. */
  async runText(principal: Principal, text: string, context: CommandContext = {}): Promise<CommandReply> {
    const parsed = parseCommand(text, context.botName ? { botName: context.botName } : {});
    if (!parsed.ok) return { kind: 'usage', error: parsed.error };
    return this.run(principal, parsed.value, context);
  }

  /** Run a parsed command for a principal. */
  async run(
    principal: Principal,
    command: ParsedCommand,
    context: CommandContext = {},
  ): Promise<CommandReply> {
    const user = await this.options.stores.users.findByIdentity(principal.platform, principal.userId);
    const denial = checkCommand(user?.roles ?? null, command.name);
    if (denial) return this.deny(principal, command.name, denial);
    switch (command.name) {
      case 'help':
        return {
          kind: 'help',
          text: command.topic ? (USAGE[command.topic as keyof typeof USAGE] ?? helpText()) : helpText(),
        };
      case 'buy':
      case 'sell':
      case 'flatten':
      case 'close':
        return this.trade(principal, user!, command, context);
      case 'positions':
        return this.positions(user!, command.target);
      case 'accounts':
        return this.accounts(user!);
      case 'status':
        return this.status(user!);
      case 'halt':
      case 'resume': {
        const state = await this.options.engine.setHalt(
          command.name === 'halt',
          `user:${user!.id}`,
          command.name === 'halt' ? command.reason : null,
        );
        await this.audit(user!, command.name, 'engine', { reason: state.reason });
        return { kind: 'halt', state };
      }
      case 'role':
        return this.role(user!, command);
      case 'subscribe':
      case 'unsubscribe':
        return this.subscription(principal, user!, command);
      case 'channel':
        return this.channel(principal, user!, command.role);
      case 'provider':
        return this.provider(principal, user!, command);
      case 'link': {
        const link = await this.options.links?.linkUrl(user!.id, principal);
        if (!link) {
          return {
            kind: 'error',
            code: 'unavailable',
            message:
              'Linking a Tradovate login needs the web server and a Tradovate OAuth application; ask an admin.',
          };
        }
        await this.audit(user!, 'link.issued', `user:${user!.id}`, {});
        return {
          kind: 'ok',
          message: `Sign in on Tradovate to link your accounts (this link works for ${this.minutesLeft(link)} minutes and only for you): ${link.url}`,
        };
      }
      case 'dashboard': {
        const links = this.options.links;
        if (!links) {
          return { kind: 'error', code: 'unavailable', message: 'The web dashboard is not running here.' };
        }
        const link = await links.dashboardUrl(user!.id, principal);
        await this.audit(user!, 'dashboard.link_issued', `user:${user!.id}`, {});
        return {
          kind: 'ok',
          message: `Your dashboard sign-in link (single use, ${this.minutesLeft(link)} minutes; do not share it): ${link.url}`,
        };
      }
    }
  }

  /**
   * A signal posted in a registered signal channel: runs only for the channel's providers, on
   * every account subscribed to the channel.
   */
  async broadcast(
    principal: Principal,
    channel: { platform: Platform; chatId: string },
    signal: Signal,
    delivery: Delivery,
  ): Promise<CommandReply> {
    const { stores } = this.options;
    const registered = await stores.channels.find(channel.platform, channel.chatId, 'signal');
    if (!registered) {
      return {
        kind: 'error',
        code: 'not_signal_channel',
        message: 'This chat is not a registered signal channel.',
      };
    }
    const user = await stores.users.findByIdentity(principal.platform, principal.userId);
    const isProvider = user ? await stores.channels.isProvider(registered.id, user.id) : false;
    const denial = checkBroadcast(user?.roles ?? null, isProvider);
    if (denial) return this.deny(principal, 'broadcast', denial);
    const targets = await stores.accounts.listSubscribedTo(registered.id);
    const { summary, duplicate, lateMs } = await this.options.engine.submit(
      {
        signal,
        source: delivery.source,
        principal,
        dedupKey: delivery.dedupKey,
        ...(delivery.priorDedupKeys ? { priorDedupKeys: delivery.priorDedupKeys } : {}),
        channelId: registered.id,
        receivedAt: this.options.clock.now(),
        ...(delivery.sentAt ? { sentAt: delivery.sentAt } : {}),
      },
      targets,
      delivery.hooks ?? {},
    );
    if (lateMs !== undefined) return lateReply(lateMs);
    if (!duplicate && registered.reportChannelId && this.options.notifier) {
      const report = await stores.channels.get(registered.reportChannelId);
      if (report) {
        await this.options.notifier.notify({
          type: 'fanout_summary',
          to: { platform: report.platform, chatId: report.chatId },
          summary,
        });
      }
    }
    return { kind: 'fanout', summary, duplicate };
  }

  /** A signal a user sent on their own behalf (a forwarded alert): trades the sender's accounts. */
  async ownSignal(principal: Principal, signal: Signal, delivery: Delivery): Promise<CommandReply> {
    const name = signal.action;
    return this.run(
      principal,
      { name, signal },
      {
        dedupKey: delivery.dedupKey,
        source: delivery.source,
        ...(delivery.priorDedupKeys ? { priorDedupKeys: delivery.priorDedupKeys } : {}),
        ...(delivery.hooks ? { hooks: delivery.hooks } : {}),
        ...(delivery.sentAt ? { sentAt: delivery.sentAt } : {}),
      },
    );
  }

  private async trade(
    principal: Principal,
    user: UserView,
    command: Extract<ParsedCommand, { signal: Signal }>,
    context: CommandContext,
  ): Promise<CommandReply> {
    const { signal } = command;
    if (signal.target.all) {
      const denial = checkTargetAll(user.roles);
      if (denial) return this.deny(principal, command.name, denial);
    }
    const targets = await this.targets(user, signal.target);
    if (targets.length === 0) {
      return {
        kind: 'error',
        code: 'no_accounts',
        message:
          signal.target.accounts || signal.target.group
            ? 'None of your accounts matches that account or group.'
            : 'You have no accounts yet.',
      };
    }
    const needsConfirm =
      (command.name === 'flatten' && signal.symbol === null) ||
      targets.length > this.options.confirmAboveAccounts;
    if (needsConfirm) {
      const confirmed = context.confirmToken ? this.takeConfirmation(principal, context.confirmToken) : null;
      if (!confirmed) {
        if (context.confirmToken) {
          return {
            kind: 'error',
            code: 'confirmation_invalid',
            message: 'That confirmation has expired or belongs to someone else. Run the command again.',
          };
        }
        return this.askConfirmation(principal, command, targets.length);
      }
    }
    const dedupKey = context.dedupKey ?? `${principal.platform}:${principal.userId}:${randomUUID()}`;
    const { summary, duplicate, lateMs } = await this.options.engine.submit(
      {
        signal,
        source: context.source ?? 'command',
        principal,
        dedupKey,
        ...(context.priorDedupKeys ? { priorDedupKeys: context.priorDedupKeys } : {}),
        receivedAt: this.options.clock.now(),
        ...(context.sentAt ? { sentAt: context.sentAt } : {}),
      },
      targets,
      context.hooks ?? {},
    );
    if (lateMs !== undefined) return lateReply(lateMs);
    return { kind: 'fanout', summary, duplicate };
  }

  /** A pending confirmation, if it exists, is unexpired and belongs to this principal. Single use. */
  private takeConfirmation(principal: Principal, token: string): ParsedCommand | null {
    const pending = this.confirmations.get(token);
    if (!pending) return null;
    if (pending.principalKey !== principalKey(principal)) return null;
    this.confirmations.delete(token);
    if (pending.expiresAt < this.options.clock.now().getTime()) return null;
    return pending.command;
  }

  private minutesLeft(link: IssuedLink): number {
    return Math.max(1, Math.round((link.expiresAt.getTime() - this.options.clock.now().getTime()) / 60_000));
  }

  /**
   * Whose a pending confirmation is, seen from `principal`: `mine`, `other` (someone else's: the
   * transport keeps the question for its owner), or `gone` (expired, cancelled or used).
   */
  confirmationState(principal: Principal, token: string): 'mine' | 'other' | 'gone' {
    const pending = this.confirmations.get(token);
    if (!pending || pending.expiresAt < this.options.clock.now().getTime()) return 'gone';
    return pending.principalKey === principalKey(principal) ? 'mine' : 'other';
  }

  /** Drop a pending confirmation (the caller pressed cancel). Only its owner may cancel it. */
  cancelConfirmation(principal: Principal, token: string): boolean {
    const pending = this.confirmations.get(token);
    if (!pending || pending.principalKey !== principalKey(principal)) return false;
    this.confirmations.delete(token);
    return true;
  }

  /** Run a confirmed command: the token must be the caller's and unexpired. */
  async confirm(
    principal: Principal,
    token: string,
    context: Omit<CommandContext, 'confirmToken'> = {},
  ): Promise<CommandReply> {
    const pending = this.confirmations.get(token);
    if (!pending || pending.principalKey !== principalKey(principal)) {
      return {
        kind: 'error',
        code: 'confirmation_invalid',
        message: 'That confirmation has expired or belongs to someone else.',
      };
    }
    return this.run(principal, pending.command, { ...context, confirmToken: token });
  }

  private askConfirmation(principal: Principal, command: ParsedCommand, accounts: number): CommandReply {
    const now = this.options.clock.now().getTime();
    for (const [token, pending] of this.confirmations) {
      if (pending.expiresAt < now) this.confirmations.delete(token);
    }
    const token = randomUUID();
    const expiresAt = now + this.confirmTtlMs;
    this.confirmations.set(token, { principalKey: principalKey(principal), command, expiresAt });
    const what =
      command.name === 'flatten' && 'signal' in command && command.signal.symbol === null
        ? `Flatten every position and cancel every working order on ${accounts} account(s)?`
        : `/${command.name} will touch ${accounts} accounts. Go ahead?`;
    return { kind: 'confirm', token, prompt: what, accounts, expiresAt: new Date(expiresAt) };
  }

  private async targets(user: UserView, target: Signal['target']): Promise<Account[]> {
    const { accounts } = this.options.stores;
    const pool = target.all ? await accounts.listAll() : await accounts.listForUser(user.id);
    return pool.filter((a) => {
      if (target.group && a.group?.toLowerCase() !== target.group.toLowerCase()) return false;
      if (target.accounts && target.accounts.length > 0) {
        return target.accounts.some((x) => x === a.id || x.toLowerCase() === a.name.toLowerCase());
      }
      return true;
    });
  }

  private async positions(user: UserView, target: Signal['target']): Promise<CommandReply> {
    if (target.all) {
      const denial = checkTargetAll(user.roles);
      if (denial) return { kind: 'denied', denial };
    }
    const accounts = await this.targets(user, target);
    const rows: PositionRow[] = [];
    const failures: { accountName: string; reason: string }[] = [];
    await runPool(accounts, 16, async (account) => {
      const broker = this.options.brokers.get(account.broker);
      if (!broker) return;
      const ref: AccountRef = {
        credentialId: account.credentialId,
        brokerAccountId: account.brokerAccountId,
      };
      const [positions, orders] = await Promise.all([
        broker.positions(ref, { priority: 'query' }),
        broker.workingOrders(ref, { priority: 'query' }),
      ]);
      if (!positions.ok || !orders.ok) {
        const e = !positions.ok ? positions.error : !orders.ok ? orders.error : null;
        failures.push({ accountName: account.name, reason: `${e?.reason}: ${e?.message}` });
        return;
      }
      const contracts = new Set([
        ...positions.value.map((p) => p.contract),
        ...orders.value.map((o) => o.contract),
      ]);
      for (const contract of contracts) {
        const p = positions.value.find((x) => x.contract === contract);
        rows.push({
          accountId: account.id,
          accountName: account.name,
          contract,
          netQuantity: p?.netQuantity ?? 0,
          averagePrice: p?.averagePrice ?? 0,
          workingOrders: orders.value.filter((o) => o.contract === contract).length,
        });
      }
    });
    rows.sort((a, b) => a.accountName.localeCompare(b.accountName) || a.contract.localeCompare(b.contract));
    return { kind: 'positions', rows, accounts: accounts.length, failures };
  }

  private async accounts(user: UserView): Promise<CommandReply> {
    const list = await this.options.stores.accounts.listForUser(user.id);
    const rows: AccountRow[] = list.map((a) => ({
      id: a.id,
      name: a.name,
      broker: a.broker,
      enabled: a.enabled,
      multiplier: a.multiplier,
      maxQuantity: a.maxQuantity,
      group: a.group,
      symbolMap: a.symbolMap,
    }));
    return { kind: 'accounts', rows };
  }

  private async status(user: UserView): Promise<CommandReply> {
    const { stores, engine, brokers } = this.options;
    const admin = user.roles.includes('admin');
    const [halt, accounts, credentials] = await Promise.all([
      engine.halted(),
      admin ? stores.accounts.listAll() : stores.accounts.listForUser(user.id),
      stores.credentials.list(admin ? {} : { ownerUserId: user.id }),
    ]);
    const rows: CredentialRow[] = credentials.map((c) => ({
      id: c.id,
      label: c.label,
      broker: c.broker,
      state: c.state,
      tokenExpiresAt: c.tokenExpiresAt,
      tokenSource: c.tokenSource,
    }));
    return {
      kind: 'status',
      halt,
      accounts: accounts.length,
      enabledAccounts: accounts.filter((a) => a.enabled).length,
      credentials: rows,
      brokers: [...brokers.keys()],
    };
  }

  private async role(
    user: UserView,
    command: Extract<ParsedCommand, { name: 'role' }>,
  ): Promise<CommandReply> {
    const match = /^(discord|telegram|console):(.+)$/.exec(command.user);
    if (!match) {
      return {
        kind: 'usage',
        error: {
          code: 'usage',
          message: `user: expected platform:id such as telegram:12345 (got ${command.user})`,
          usage: USAGE.role,
        },
      };
    }
    const platform = match[1] as Platform;
    const externalId = match[2]!;
    const target = await this.options.stores.users.ensureIdentityUser(platform, externalId, command.user, []);
    const changed = command.revoke
      ? await this.options.stores.users.revokeRole(target.id, command.role)
      : await this.options.stores.users.grantRole(target.id, command.role, user.id);
    await this.audit(user, command.revoke ? 'role.revoke' : 'role.grant', `user:${target.id}`, {
      role: command.role,
      identity: command.user,
    });
    const verb = command.revoke ? 'revoked from' : 'granted to';
    return {
      kind: 'ok',
      message: changed
        ? `Role ${command.role} ${verb} ${command.user}.`
        : `Nothing to change for ${command.user}.`,
    };
  }

  private async subscription(
    principal: Principal,
    user: UserView,
    command: Extract<ParsedCommand, { name: 'subscribe' | 'unsubscribe' }>,
  ): Promise<CommandReply> {
    const { stores } = this.options;
    const mine = await stores.accounts.listForUser(user.id);
    const account = mine.find(
      (a) => a.id === command.account || a.name.toLowerCase() === command.account.toLowerCase(),
    );
    if (!account)
      return { kind: 'error', code: 'not_owner', message: `You have no account named ${command.account}.` };
    const chatId = command.channel ?? principal.chatId;
    if (!chatId) return { kind: 'error', code: 'usage', message: 'Name the signal channel to follow.' };
    const channel = await stores.channels.find(principal.platform, chatId, 'signal');
    if (!channel)
      return {
        kind: 'error',
        code: 'not_signal_channel',
        message: `${chatId} is not a registered signal channel.`,
      };
    if (command.name === 'subscribe') await stores.channels.subscribe(account.id, channel.id);
    else await stores.channels.unsubscribe(account.id, channel.id);
    await this.audit(user, command.name, `account:${account.id}`, { channel: channel.id });
    return {
      kind: 'ok',
      message:
        command.name === 'subscribe'
          ? `${account.name} now follows the signals of ${chatId}.`
          : `${account.name} no longer follows ${chatId}.`,
    };
  }

  private async channel(
    principal: Principal,
    user: UserView,
    role: 'signal' | 'report',
  ): Promise<CommandReply> {
    if (!principal.chatId)
      return { kind: 'error', code: 'usage', message: 'Run this inside the chat to register.' };
    const channel = await this.options.stores.channels.register({
      platform: principal.platform,
      chatId: principal.chatId,
      role,
      title: principal.chatTitle ?? null,
    });
    await this.audit(user, 'channel.register', `channel:${channel.id}`, { role, chatId: principal.chatId });
    return {
      kind: 'ok',
      message:
        role === 'signal'
          ? 'This chat is now a signal channel. Add providers with /provider add platform:id; traders follow it with /subscribe.'
          : 'This chat is now a report channel.',
    };
  }

  private async provider(
    principal: Principal,
    user: UserView,
    command: Extract<ParsedCommand, { name: 'provider' }>,
  ): Promise<CommandReply> {
    const { stores } = this.options;
    const match = /^(discord|telegram|console|webhook):(.+)$/.exec(command.user);
    if (!match) {
      return {
        kind: 'usage',
        error: {
          code: 'usage',
          message: `user: expected platform:id (got ${command.user})`,
          usage: USAGE.provider,
        },
      };
    }
    const channel = principal.chatId
      ? await stores.channels.find(principal.platform, principal.chatId, 'signal')
      : null;
    if (!channel) {
      return {
        kind: 'error',
        code: 'not_signal_channel',
        message: 'Register this chat first with /channel signal.',
      };
    }
    const target = await stores.users.ensureIdentityUser(match[1] as Platform, match[2]!, command.user, []);
    if (command.remove) {
      await stores.channels.removeProvider(channel.id, target.id);
    } else {
      await stores.users.grantRole(target.id, 'provider', user.id);
      await stores.channels.addProvider(channel.id, target.id);
    }
    await this.audit(user, command.remove ? 'provider.remove' : 'provider.add', `channel:${channel.id}`, {
      provider: command.user,
    });
    return {
      kind: 'ok',
      message: command.remove
        ? `${command.user} no longer provides signals here.`
        : `${command.user} may now post signals here.`,
    };
  }

  private async deny(principal: Principal, what: string, denial: Denial): Promise<CommandReply> {
    this.options.log.info({ principal: principalKey(principal), command: what, code: denial.code }, 'denied');
    await this.options.stores.audit.record({
      actor: principalKey(principal),
      action: 'denied',
      subject: what,
      details: { code: denial.code },
    });
    return { kind: 'denied', denial };
  }

  private audit(user: UserView, action: string, subject: string, details: Record<string, unknown>) {
    return this.options.stores.audit.record({ actor: `user:${user.id}`, action, subject, details });
  }
}

/** A signal the engine found too old to act on. */
function lateReply(ageMs: number): CommandReply {
  const minutes = Math.max(1, Math.round(ageMs / 60_000));
  return {
    kind: 'error',
    code: 'late',
    message: `Not executed: this is ${minutes} min old (the service was down or restarting when it arrived). Send it again if it still applies.`,
  };
}
