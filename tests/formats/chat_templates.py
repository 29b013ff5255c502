# ruff: noqa: E501 - templates are kept one construct per line, as their authors write them
"""Realistic chat templates in the style of the common model families, written for the tests (not copied):
Llama 3 with tools, ChatML/Qwen with tools, Mistral, Gemma, Phi-3, Llama 2, Zephyr, Hermes-style tool
macros, joiner/cycler use, DeepSeek-style thinking and vision content parts."""

from __future__ import annotations

BENIGN = {
    "llama3-tools": (
        "{{- bos_token }}{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}"
        "{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = true %}{%- endif %}"
        "{%- if not date_string is defined %}{%- set date_string = strftime_now('%d %b %Y') %}{%- endif %}"
        "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}"
        "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
        "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
        "{{- 'Today Date: ' + date_string + '\\n\\n' }}{{- system_message }}{{- '<|eot_id|>' }}"
        "{%- if tools_in_user_message and tools is not none %}"
        "{%- if messages | length != 0 %}{%- set first_user_message = messages[0]['content']|trim %}"
        "{%- set messages = messages[1:] %}{%- else %}{{- raise_exception('No first user message!') }}{%- endif %}"
        "{{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}"
        "{%- for t in tools %}{{- t | tojson(indent=4) }}{{- '\\n\\n' }}{%- endfor %}"
        "{{- first_user_message + '<|eot_id|>'}}{%- endif %}"
        "{%- for message in messages %}"
        "{%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}"
        "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
        "+ message['content'] | trim + '<|eot_id|>' }}"
        "{%- elif 'tool_calls' in message %}{%- set tool_call = message.tool_calls[0].function %}"
        "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}"
        "{{- '{\"name\": \"' + tool_call.name + '\", ' }}{{- '\"parameters\": ' }}"
        "{{- tool_call.arguments | tojson }}{{- '}' }}{{- '<|eot_id|>' }}"
        "{%- elif message.role == 'tool' or message.role == 'ipython' %}"
        "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' }}"
        "{%- if message.content is mapping or message.content is iterable %}"
        "{{- message.content | tojson }}{%- else %}{{- message.content }}{%- endif %}"
        "{{- '<|eot_id|>' }}{%- endif %}{%- endfor %}"
        "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
    ),
    "chatml-qwen-tools": (
        "{%- if tools %}{{- '<|im_start|>system\\n' }}"
        "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}"
        "{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}"
        "{{- '\\n\\n# Tools\\n\\n<tools>' }}{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}{%- endfor %}"
        "{{- '\\n</tools><|im_end|>\\n' }}"
        "{%- else %}{%- if messages[0]['role'] == 'system' %}"
        "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
        "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}"
        "{%- for message in messages %}"
        '{%- if (message.role == "user") or (message.role == "system" and not loop.first) or '
        '(message.role == "assistant" and not message.tool_calls) %}'
        "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
        "{%- elif message.role == \"assistant\" %}{{- '<|im_start|>' + message.role }}"
        "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}"
        "{%- for tool_call in message.tool_calls %}"
        "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}"
        '{{- \'\\n<tool_call>\\n{"name": "\' }}{{- tool_call.name }}{{- \'", "arguments": \' }}'
        "{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}{%- endfor %}{{- '<|im_end|>\\n' }}"
        '{%- elif message.role == "tool" %}'
        '{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}'
        "{{- '<|im_start|>user' }}{%- endif %}"
        "{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}"
        "{%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}{{- '<|im_end|>\\n' }}{%- endif %}"
        "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    "mistral": (
        "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
        "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
        "{{- bos_token }}{%- for message in loop_messages %}"
        "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{- raise_exception('After the optional system message, conversation roles must alternate "
        "user/assistant/user/assistant...') }}{%- endif %}"
        "{%- if message['role'] == 'user' %}"
        "{%- if loop.first and system_message is defined %}"
        "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}"
        "{%- else %}{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}"
        "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token}}"
        "{%- else %}{{- raise_exception('Only user and assistant roles are supported') }}{%- endif %}"
        "{%- endfor %}"
    ),
    "gemma": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
        "{% set role = message['role'] %}{% endif %}"
        "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
    ),
    "phi3": (
        "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
        "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
        "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
        "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
    ),
    "llama2-role-map": (
        "{% set role_prefix = {'user': '[INST] ', 'assistant': ''} %}"
        "{% set role_suffix = {'user': ' [/INST]', 'assistant': ' ' + eos_token} %}"
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}"
        "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = system_message + message['content'] %}{% else %}"
        "{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] in role_prefix %}{{ bos_token if message['role'] == 'user' else '' }}"
        "{{ role_prefix[message['role']] + content | trim + role_suffix[message['role']] }}{% endif %}"
        "{% endfor %}"
    ),
    "zephyr-namespace": (
        "{% set ns = namespace(found_system=false, turns=0) %}"
        "{% for message in messages %}{% if message['role'] == 'system' %}{% set ns.found_system = true %}"
        "{% endif %}{% set ns.turns = ns.turns + 1 %}"
        "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
        "{% if not ns.found_system %}{# no system prompt #}{% endif %}"
    ),
    "hermes-macro-types": (
        "{%- macro json_to_python_type(json_spec) %}"
        "{%- set basic_type_map = {'string': 'str', 'number': 'float', 'integer': 'int', 'boolean': 'bool'} %}"
        "{%- if basic_type_map[json_spec.type] is defined %}{{- basic_type_map[json_spec.type] }}"
        '{%- elif json_spec.type == "array" %}{{- "list[" + json_to_python_type(json_spec|items) + "]" }}'
        '{%- elif json_spec.type == "object" %}{%- if json_spec.additionalProperties is defined %}'
        "{{- 'dict[str, ' + json_to_python_type(json_spec.additionalProperties) + ']' }}"
        "{%- else %}{{- 'dict' }}{%- endif %}"
        "{%- elif json_spec.type is iterable %}"
        "{{- 'Union[' }}{%- for t in json_spec.type %}{{- json_to_python_type({'type': t}) }}"
        "{%- if not loop.last %}{{- ',' }}{%- endif %}{%- endfor %}{{- ']' }}"
        '{%- else %}{{- "Any" }}{%- endif %}{%- endmacro %}'
        "{{- bos_token }}{{- '<|im_start|>system\\nYou may call functions:<tools> ' }}"
        "{%- for tool in tools %}{%- if tool.function is defined %}{%- set tool = tool.function %}{%- endif %}"
        "{{- tool.name + '(' }}{%- for param_name, param_fields in tool.parameters.properties|items %}"
        "{{- param_name + ': ' + json_to_python_type(param_fields) }}{%- if not loop.last %}{{- ', ' }}{%- endif %}"
        "{%- endfor %}{{- ')' }}{%- if tool.description is defined %}{{- ' - ' + tool.description }}{%- endif %}"
        "{%- endfor %}{{- ' </tools><|im_end|>\\n' }}"
        "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content|string }}"
        "{{- '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    ),
    "command-style-joiner": (
        "{{ bos_token }}{% set sep = joiner(' | ') %}{% set c = cycler('odd', 'even') %}"
        "{% for message in messages %}{{ sep() }}{{ c.next() }}:{{ message.role | upper }}"
        "{% if message.content is string %}{{ message.content }}{% else %}"
        "{% for part in message.content | selectattr('type', 'equalto', 'text') %}{{ part.text }}{% endfor %}"
        "{% endif %}{% endfor %}"
        "{% for tool in tools | map(attribute='function') | list %}{{ tool.name }}{% endfor %}"
        "{% if add_generation_prompt %}<|CHATBOT_TOKEN|>{% endif %}"
    ),
    "deepseek-split-think": (
        "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
        "{% set ns = namespace(is_first=false, system_prompt='') %}"
        "{%- for message in messages %}{%- if message['role'] == 'system' %}"
        "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
        "{%- for message in messages %}{%- if message['role'] == 'user' %}"
        "{{ '<|User|>' + message['content'] }}{%- endif %}"
        "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
        "{% set content = message['content'] %}{% if '</think>' in content %}"
        "{% set content = content.split('</think>')[-1] %}{% endif %}"
        "{{ '<|Assistant|>' + content + '<|end_of_sentence|>' }}{%- endif %}{%- endfor -%}"
        "{% if add_generation_prompt %}{{ '<|Assistant|>' }}{% endif %}"
    ),
    "vision-content-parts": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for content in message['content'] %}{% if content['type'] == 'image' %}{{ '<image>' }}"
        "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{{ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
}
