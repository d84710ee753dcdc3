// A capped "who is online": the names the relay sends (the first to arrive, this user
// and its friends), "and N others", and everyone else page by page.
import Component from "@glimmer/component";
import { tracked } from "@glimmer/tracking";
import { service } from "@ember/service";
import { on } from "@ember/modifier";

export default class Crowd extends Component {
  @service presence;
  @tracked pages = [];
  @tracked next = null;
  @tracked done = false;

  channel = this.presence.getChannel(this.args.channel, this);

  constructor(owner, args) {
    super(owner, args);
    this.channel.subscribe({ friends: ["pal"] });
  }

  get others() {
    return this.channel.count - this.channel.users.length;
  }

  more = async () => {
    const page = await this.channel.members({ limit: 2, ...(this.next ? { after: this.next } : {}) });
    this.pages = [...this.pages, ...page.users];
    this.next = page.next;
    this.done = page.next === null;
  };

  <template>
    <div class="crowd" data-capped={{this.channel.capped}} data-count={{this.channel.count}} data-done={{if this.done "true" "false"}}>
      <ul class="shown">{{#each this.channel.users as |user|}}<li>{{user.name}}</li>{{/each}}</ul>
      {{#if this.others}}<p class="others">and {{this.others}} others</p>{{/if}}
      <button type="button" {{on "click" this.more}}>more</button>
      <ol class="pages">{{#each this.pages as |user|}}<span>{{user.id}}</span>{{/each}}</ol>
    </div>
  </template>
}
