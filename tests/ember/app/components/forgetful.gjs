// Enters its channel and never leaves nor unsubscribes: the owner's destruction must.
import Component from "@glimmer/component";
import { service } from "@ember/service";

export default class Forgetful extends Component {
  @service presence;

  channel = this.presence.getChannel(this.args.channel, this);

  constructor(owner, args) {
    super(owner, args);
    this.channel.enter({ forgetful: true });
    this.channel.subscribe();
  }

  <template>
    <div class="forgetful">{{this.channel.count}} here</div>
  </template>
}
