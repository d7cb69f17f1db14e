/**
 * What the bot does with each interaction and channel message: it turns them into calls to the
 * command layer and renders what comes back. It decides no permissions; every refusal shown here
 * is the command layer's.
 *
 * Visibility. Discord fixes a response's visibility when it is acknowledged, before the command layer
 * has answered, and a public "thinking…" cannot later become private. So every slash command is
 * acknowledged privately (ephemeral): usage errors, denials, errors, lists and the confirmation
 * question are only ever seen by the caller, and the private reply is edited in place — progress
 * while a fan-out runs, then its summary with a Details button. A fan-out that actually ran (not a
 * repeat) is then also posted publicly as a follow-up, so the channel sees what was sent to the
 * brokers; the follow-up is sent after the private reply was edited, because the first follow-up
 * to a deferred reply would replace it and inherit its visibility.
 *
 * Signal channels. A message that parses as an alert goes to `broadcast`; the command layer decides
 * whether the channel is a signal channel and whether the author may post signals there. A summary
 * is posted as a reply to the signal. A refused author is told privately (and only when registered);
 * the refusal is always logged, never posted in the channel.
 *
 * Catching up. The gateway delivers a message once, to the session that is connected: what is posted
 * while the bot is stopped or restarting, or between two gateway sessions, never arrives. So at
 * start, and when a new session replaces a lost one, the bot reads each signal channel's recent
 * history and handles, in order, every message it has not answered (its replies name the message
 * they answer). The engine's dedup key keeps a signal recorded before a crash from running twice
 * (its first outcome is posted instead), and its freshness rule answers one that is now too old
 * rather than trading it.
 */
import {
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Client,
  DiscordAPIError,
  type Interaction,
  type Message,
  MessageFlags,
  RESTJSONErrorCodes,
} from 'discord.js';
import {
  type App,
  type CommandReply,
  type Logger,
  looksLikeSignal,
  type Principal,
  parseAlert,
} from '../../src/index.js';
import { accountChoices, commandText, symbolChoices } from './commands.js';
import { LiveMessage } from './progress.js';
import {
  clip,
  LIMITS,
  PROGRESS_MARK,
  parseCustomId,
  renderDetails,
  renderReply,
  renderSummary,
  type View,
} from './render.js';
import type { RecentSummaries } from './summaries.js';

export interface HandlerOptions {
  readonly app: App;
  readonly log: Logger;
  readonly summaries: RecentSummaries;
  /** Post a public copy of each executed fan-out's summary in the channel it was run from. */
  readonly publicSummaries: boolean;
  /** Milliseconds between progress edits. */
  readonly progressIntervalMs?: number;
}

const EPHEMERAL = MessageFlags.Ephemeral;
/** How far back catching up looks: as long as Telegram keeps the updates of a bot that is away. */
const CATCH_UP_HORIZON_MS = 24 * 60 * 60_000;
/** Messages per history request (Discord's largest page). */
const CATCH_UP_PAGE = 100;
/** Pages read back per signal channel at most: its newest 1,000 messages. */
const CATCH_UP_PAGES = 10;
/** Message ids already taken, so a live delivery and the history never handle one twice. */
const SEEN_LIMIT = 10_000;
const SOMETHING_WRONG =
  '✗ Something went wrong on our side; nothing more was done. The details are in the log.';

export class Handlers {
  private readonly seen = new Set<string>();
  /**
   * Live messages wait for this, so signals run in the order they were posted: closed from the
   * start until the first catch-up ends, and again while a new gateway session catches up.
   */
  private gate: Promise<void> = Promise.resolve();
  /** Opens the gate; set while it is closed. */
  private openGate: (() => void) | null = null;
  /** The last catch-up queued; they run one after another. */
  private catchUps: Promise<void> = Promise.resolve();

  constructor(private readonly options: HandlerOptions) {
    this.closeGate();
  }

  private get app(): App {
    return this.options.app;
  }

  private get log(): Logger {
    return this.options.log;
  }

  async interaction(interaction: Interaction): Promise<void> {
    if (interaction.isAutocomplete()) return this.autocomplete(interaction);
    if (interaction.isChatInputCommand()) return this.command(interaction);
    if (interaction.isButton()) return this.button(interaction);
  }

  // -------------------------------------------------------------------------------------------------
  // Slash commands

  private async command(interaction: ChatInputCommandInteraction): Promise<void> {
    const built = commandText(interaction);
    if (!built.ok) {
      await interaction.reply({ content: clip(`✗ ${built.message}`, LIMITS.content), flags: EPHEMERAL });
      return;
    }
    if (!(await this.acknowledge(interaction, () => interaction.deferReply({ flags: EPHEMERAL })))) return;
    await this.execute(interaction, (hooks) =>
      this.app.commands.runText(principalOf(interaction), built.text, {
        dedupKey: `discord:${interaction.id}`,
        hooks,
      }),
    );
  }

  /**
   * Run a command for an acknowledged interaction and show how it went in the interaction's own
   * message: progress while a fan-out runs, then the reply. A fan-out's summary is kept for Details
   * and, when it really ran, copied publicly.
   */
  private async execute(
    interaction: ChatInputCommandInteraction | ButtonInteraction,
    run: (hooks: ReturnType<LiveMessage['hooks']>) => Promise<CommandReply>,
  ): Promise<void> {
    const live = this.live((view) => interaction.editReply(asEdit(view)));
    let reply: CommandReply;
    try {
      reply = await run(live.hooks());
    } catch (error) {
      this.log.error({ err: error, interactionId: interaction.id }, 'command failed');
      await live.finish({ content: SOMETHING_WRONG }).catch(() => undefined);
      return;
    }
    // A fan-out that ran now (not the repeat of an earlier one).
    const ran = reply.kind === 'fanout' && !reply.duplicate ? reply.summary : null;
    if (ran) this.options.summaries.remember(ran, interaction.user.id);
    const view = renderReply(reply, { details: ran !== null });
    try {
      await live.finish(view);
    } catch (error) {
      // The interaction's token lasts 15 minutes: a longer fan-out can no longer edit its reply, so
      // the caller gets it privately instead.
      this.log.warn(
        { err: error, interactionId: interaction.id, reply: reply.kind },
        'could not edit the reply',
      );
      await interaction.user.send(asNew(view)).catch((dmError: unknown) => {
        this.log.warn(
          { err: dmError, interactionId: interaction.id },
          'could not send the reply privately either',
        );
      });
      return;
    }
    if (ran && this.options.publicSummaries && interaction.inGuild()) {
      await interaction.followUp({ embeds: renderSummary(ran).embeds ?? [] }).catch((error: unknown) => {
        this.log.warn({ err: error, interactionId: interaction.id }, 'could not post the public summary');
      });
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Buttons

  private async button(interaction: ButtonInteraction): Promise<void> {
    const action = parseCustomId(interaction.customId);
    if (!action) {
      await interaction.reply({ content: 'This button is no longer active.', flags: EPHEMERAL });
      return;
    }
    switch (action.action) {
      case 'details':
        return this.details(interaction, action.signalId);
      case 'confirm':
        return this.confirm(interaction, action.token);
      case 'cancel':
        return this.cancel(interaction, action.token);
    }
  }

  private async details(interaction: ButtonInteraction, signalId: string): Promise<void> {
    const kept = this.options.summaries.get(signalId);
    let view: View;
    if (!kept) {
      view = {
        content: `The details of signal #${signalId} are no longer kept (they last until the bot restarts).`,
      };
    } else if (kept.ownerId !== interaction.user.id) {
      view = { content: `Only the person who sent signal #${signalId} can see its details.` };
    } else {
      view = renderDetails(kept.summary);
    }
    await interaction.reply({ ...asNew(view), flags: EPHEMERAL });
  }

  /**
   * A confirmation belongs to whoever was asked. Someone else's press gets the command layer's
   * refusal privately and leaves the question alone; the owner's press runs the command in the
   * question's own message (progress, then the result).
   */
  private async confirm(interaction: ButtonInteraction, token: string): Promise<void> {
    const principal = principalOf(interaction);
    const { commands } = this.app;
    const state = commands.confirmationState(principal, token);
    if (state !== 'mine') {
      const refusal = await commands.confirm(principal, token, { dedupKey: `discord:${interaction.id}` });
      // A question nobody can answer any more loses its buttons; someone else's stays as it is.
      if (state === 'gone') await interaction.update(asEdit(renderReply(refusal)));
      else await interaction.reply({ ...asNew(renderReply(refusal)), flags: EPHEMERAL });
      return;
    }
    if (!(await this.acknowledge(interaction, () => interaction.deferUpdate()))) return;
    await this.execute(interaction, (hooks) =>
      commands.confirm(principal, token, { dedupKey: `discord:${interaction.id}`, hooks }),
    );
  }

  private async cancel(interaction: ButtonInteraction, token: string): Promise<void> {
    const principal = principalOf(interaction);
    const { commands } = this.app;
    if (commands.cancelConfirmation(principal, token)) {
      await interaction.update({ content: 'Cancelled; nothing was sent.', embeds: [], components: [] });
      return;
    }
    if (commands.confirmationState(principal, token) === 'gone') {
      await interaction.update({
        content: 'This question has expired; nothing was sent.',
        embeds: [],
        components: [],
      });
      return;
    }
    await interaction.reply({
      content: '✗ Only the person who was asked can answer this.',
      flags: EPHEMERAL,
    });
  }

  // -------------------------------------------------------------------------------------------------
  // Autocomplete

  private async autocomplete(interaction: AutocompleteInteraction): Promise<void> {
    const focused = interaction.options.getFocused(true);
    const typed = String(focused.value ?? '');
    try {
      const choices =
        focused.name === 'symbol'
          ? symbolChoices(typed, interaction.commandName === 'flatten')
          : focused.name === 'account' || focused.name === 'group'
            ? await accountChoices(this.app, interaction.user.id, typed, focused.name)
            : [];
      await interaction.respond(choices);
    } catch (error) {
      this.log.warn(
        { err: error, command: interaction.commandName, option: focused.name },
        'autocomplete failed',
      );
      if (!interaction.responded) await interaction.respond([]).catch(() => undefined);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Channel messages

  /**
   * A channel message, live from the gateway or, with `catchUp`, read back from the history; with
   * `progress`, the bot's own reply that a stopped run left showing progress, to finish.
   */
  async message(message: Message, how: { catchUp?: boolean; progress?: Message } = {}): Promise<void> {
    if (message.author.bot || message.webhookId || message.system || !message.inGuild()) return;
    if (!how.catchUp) await this.gate;
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
    const text = message.content.trim();
    if (text === '') return;
    const parsed = parseAlert(text);
    if (!parsed.ok) {
      if (looksLikeSignal(text)) await this.unparsedSignal(message, parsed.error);
      return;
    }
    const principal: Principal = {
      platform: 'discord',
      userId: message.author.id,
      chatId: message.channelId,
      displayName: message.member?.displayName ?? message.author.globalName ?? message.author.username,
      chatTitle: message.channel.name,
    };
    // Progress, then the summary, in one reply to the signal (the one a stopped run began, if any).
    let posted: Message | null = how.progress ?? null;
    const live = this.live(async (view) => {
      if (posted) await posted.edit(asEdit(view));
      else posted = await message.reply(asNew(view));
    });
    const where = { channelId: message.channelId, messageId: message.id, author: message.author.id };
    let reply: CommandReply;
    try {
      reply = await this.app.commands.broadcast(
        principal,
        { platform: 'discord', chatId: message.channelId },
        parsed.value,
        {
          dedupKey: `discord:msg:${message.id}`,
          source: 'channel',
          hooks: live.hooks(),
          // A resumed gateway session replays what it missed: the engine does not act on an old one.
          sentAt: new Date(message.createdTimestamp),
        },
      );
    } catch (error) {
      this.log.error({ err: error, ...where }, 'signal failed');
      // Followers already saw it start: say that it broke off.
      if (live.started) await live.finish({ content: SOMETHING_WRONG }).catch(() => undefined);
      return;
    }
    switch (reply.kind) {
      case 'fanout':
        if (reply.duplicate) {
          this.log.info(
            { ...where, signalId: reply.summary.duplicateOf },
            'signal message delivered again; not executed twice',
          );
          // Read back, it was recorded before a stop but never answered: the channel learns how its
          // run ended. Delivered again live, it was answered the first time.
          if (!how.catchUp) return;
        }
        if (how.progress && reply.summary.accounts === 0) {
          // Its run has no summary yet (recovery could not settle it): the reply stays as it is.
          this.log.warn(
            { ...where, signalId: reply.summary.duplicateOf },
            'a stopped run has no outcome to show yet',
          );
          return;
        }
        this.options.summaries.remember(reply.summary, message.author.id);
        // A progress reply the stopped run left becomes that run's result, not a repeat notice.
        await live.finish(
          renderSummary(how.progress ? { ...reply.summary, duplicateOf: null } : reply.summary, {
            details: true,
          }),
        );
        return;
      case 'error':
        if (reply.code === 'not_signal_channel') {
          this.log.debug(where, 'signal-like message outside a signal channel; ignored');
          return;
        }
        this.log.warn({ ...where, code: reply.code }, 'signal not executed');
        await live.finish(renderReply(reply));
        return;
      case 'denied':
        this.log.info(
          { ...where, code: reply.denial.code },
          'signal from someone who may not post signals here; not executed',
        );
        // Read back from the history, the author is not told privately (again, if the message had
        // been refused before a stop and is still unanswered in the channel): the log has it.
        if (reply.denial.code !== 'unknown_user' && !how.catchUp) {
          await this.tellPrivately(message, renderReply(reply));
        }
        return;
      default:
        await live.finish(renderReply(reply));
    }
  }

  /**
   * Handle, oldest first, the messages of the Discord signal channels that the bot has not answered,
   * from the last `CATCH_UP_HORIZON_MS` (up to `CATCH_UP_PAGES` pages of each channel). Live
   * messages wait until it ends; `active` turning false (the bot stopping) ends it early.
   */
  catchUp(client: Client<true>, active: () => boolean): Promise<void> {
    this.closeGate();
    const run = this.catchUps
      .then(() => this.readBack(client, active))
      .catch((error: unknown) => {
        this.log.error({ err: error }, 'catching up on the signal channels failed');
      })
      .finally(() => {
        // A newer catch-up queued behind this one keeps the gate closed until it ends.
        if (this.catchUps === run) this.openGate?.();
      });
    this.catchUps = run;
    return run;
  }

  private closeGate(): void {
    if (this.openGate) return;
    this.gate = new Promise((resolve) => {
      this.openGate = () => {
        this.openGate = null;
        resolve();
      };
    });
  }

  private async readBack(client: Client<true>, active: () => boolean): Promise<void> {
    const channels = (await this.app.stores.channels.list({ role: 'signal' })).filter(
      (c) => c.platform === 'discord',
    );
    const me = client.user.id;
    const since = Date.now() - CATCH_UP_HORIZON_MS;
    const missed: Message[] = [];
    const progress = new Map<string, Message>();
    for (const { chatId } of channels) {
      const history: Message[] = [];
      let complete = false;
      try {
        const channel = await client.channels.fetch(chatId);
        if (!channel?.isTextBased() || channel.isDMBased()) {
          this.log.warn(
            { channelId: chatId },
            'a signal channel is no longer a server text channel; not read',
          );
          continue;
        }
        // Newest first, page by page back to the horizon.
        for (let page = 0; page < CATCH_UP_PAGES && !complete; page++) {
          const before = history.at(-1)?.id;
          const batch = await channel.messages.fetch({
            limit: CATCH_UP_PAGE,
            cache: false,
            ...(before === undefined ? {} : { before }),
          });
          history.push(...[...batch.values()].sort((a, b) => byPosted(b, a)));
          const oldest = history.at(-1);
          complete = batch.size < CATCH_UP_PAGE || !oldest || oldest.createdTimestamp < since;
        }
      } catch (error) {
        this.log.warn(
          { err: error, channelId: chatId, read: history.length },
          "could not read (all of) a signal channel's history; signals posted there while the bot was away and not read are not handled",
        );
        if (history.length === 0) continue;
      }
      // A reply still showing progress was left by a run that stopped before its result: the message
      // is handled again (its run is recorded, so nothing is sent twice) and the reply finished.
      const answered = new Set<string>();
      for (const m of history) {
        const to = m.author.id === me ? m.reference?.messageId : undefined;
        if (!to) continue;
        if (m.content.startsWith(PROGRESS_MARK) && m.embeds.length === 0) {
          if (!answered.has(to)) progress.set(to, m);
        } else {
          answered.add(to);
          progress.delete(to);
        }
      }
      const unanswered = history.filter(
        (m) => m.author.id !== me && m.createdTimestamp >= since && !answered.has(m.id),
      );
      missed.push(...unanswered);
      const fields = { channelId: chatId, read: history.length, unanswered: unanswered.length };
      if (!complete) {
        this.log.warn(
          fields,
          'a signal channel has more messages in the catch-up window than were read; older unanswered ones are not handled',
        );
      } else {
        this.log.info(fields, 'signal channel read back');
      }
    }
    // Across channels too, in the order they were posted (snowflakes sort by time).
    missed.sort(byPosted);
    for (const m of missed) {
      if (!active()) return;
      try {
        const left = progress.get(m.id);
        await this.message(m, { catchUp: true, ...(left ? { progress: left } : {}) });
      } catch (error) {
        // One message's reply failing (a permission, a deleted message) does not stop the others.
        this.log.error(
          { err: error, channelId: m.channelId, messageId: m.id },
          'catching up on a message failed',
        );
      }
    }
    this.log.info({ channels: channels.length, unanswered: missed.length }, 'signal channels caught up');
  }

  /**
   * A message that reads like a signal but does not parse. In a signal channel a registered user is
   * told what is wrong with it, in reply, so followers can see it was not executed; anywhere else, or
   * from anyone else, it is conversation.
   */
  private async unparsedSignal(
    message: Message<true>,
    error: { message: string; usage: string | null },
  ): Promise<void> {
    const [channel, user] = await Promise.all([
      this.app.stores.channels.find('discord', message.channelId, 'signal'),
      this.app.stores.users.findByIdentity('discord', message.author.id),
    ]);
    if (!channel || !user) {
      this.log.debug(
        { channelId: message.channelId, messageId: message.id, author: message.author.id },
        'unparsable signal-like message outside a signal channel or from an unknown author; ignored',
      );
      return;
    }
    const usage = error.usage ? `\nExpected: ${error.usage}` : '';
    await message.reply({ content: clip(`✗ Not executed: ${error.message}${usage}`, LIMITS.content) });
  }

  private async tellPrivately(message: Message, view: View): Promise<void> {
    try {
      await message.author.send({
        ...asNew(view),
        content: clip(
          `About your message in #${channelName(message)}: ${view.content ?? ''}`,
          LIMITS.content,
        ),
      });
    } catch (error) {
      // Members may close their private messages; the refusal is in the log either way.
      this.log.info({ err: error, author: message.author.id }, 'could not tell the author privately');
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Helpers

  private live(show: (view: View) => Promise<unknown>): LiveMessage {
    return new LiveMessage({
      show,
      log: this.log,
      ...(this.options.progressIntervalMs !== undefined
        ? { minIntervalMs: this.options.progressIntervalMs }
        : {}),
    });
  }

  /**
   * Acknowledge within Discord's 3 seconds. When that fails nothing runs: either another delivery of
   * the same interaction already answered it (40060), or the caller was told the bot did not respond
   * and may well try again, and running the first attempt as well would trade twice.
   */
  private async acknowledge(interaction: Interaction, ack: () => Promise<unknown>): Promise<boolean> {
    try {
      await ack();
      return true;
    } catch (error) {
      const code = error instanceof DiscordAPIError ? error.code : null;
      const already = code === RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged;
      this.log.warn(
        { err: error, interactionId: interaction.id, code },
        already
          ? 'interaction already acknowledged by another delivery; not running it again'
          : 'could not acknowledge the interaction; not running it',
      );
      return false;
    }
  }
}

/** Who is asking: the Discord user in the channel they asked from. */
export function principalOf(interaction: ChatInputCommandInteraction | ButtonInteraction): Principal {
  const channel = interaction.channel;
  const member = interaction.member;
  const memberName = member && 'displayName' in member ? member.displayName : (member?.nick ?? null);
  return {
    platform: 'discord',
    userId: interaction.user.id,
    chatId: interaction.channelId,
    displayName: memberName ?? interaction.user.globalName ?? interaction.user.username,
    ...(channel && 'name' in channel && channel.name ? { chatTitle: channel.name } : {}),
  };
}

/** Oldest first: snowflake ids grow with the time a message was posted. */
const byPosted = (a: Message, b: Message) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1);

const channelName = (message: Message) =>
  'name' in message.channel ? message.channel.name : message.channelId;

/** An edit replaces everything: parts the view leaves out are cleared. */
function asEdit(view: View) {
  return {
    content: view.content ?? '',
    embeds: view.embeds ?? [],
    components: view.components ?? [],
    ...(view.files ? { files: view.files } : {}),
  };
}

/** A new message carries only what the view sets. */
function asNew(view: View) {
  return {
    ...(view.content ? { content: view.content } : {}),
    ...(view.embeds?.length ? { embeds: view.embeds } : {}),
    ...(view.components?.length ? { components: view.components } : {}),
    ...(view.files?.length ? { files: view.files } : {}),
  };
}
