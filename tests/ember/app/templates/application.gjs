// The application route's template: every part of the scene, as its component.
import { scene } from "../scene.js";
import WhoIsHere from "readme:ember-component.gjs";
import ReplyBox from "readme:ember-template.hbs";
import TopicReaders from "addon-readme:topic-readers.gjs";
import AddonReplyBox from "addon-readme:reply-box.gjs";
import Forgetful from "../components/forgetful.gjs";
import Crowd from "../components/crowd.gjs";
import ConnectionStatus from "addon-readme:connection-status.gjs";

const is = (a, b) => a === b;

<template>
  {{#each scene.parts key="key" as |part|}}
    <div class="part" data-part={{part.key}}>
      {{#if (is part.kind "who")}}
        <WhoIsHere @channel={{part.channel}} @typing={{part.typing}} />
      {{else if (is part.kind "reply")}}
        <ReplyBox @topicId={{part.channel}} @typing={{part.typing}} />
      {{else if (is part.kind "readers")}}
        <TopicReaders @topicId={{part.channel}} />
      {{else if (is part.kind "reply-42")}}
        <AddonReplyBox @typing={{part.typing}} />
      {{else if (is part.kind "forgetful")}}
        <Forgetful @channel={{part.channel}} />
      {{else if (is part.kind "crowd")}}
        <Crowd @channel={{part.channel}} />
      {{else if (is part.kind "status")}}
        <ConnectionStatus />
      {{/if}}
    </div>
  {{/each}}
</template>
