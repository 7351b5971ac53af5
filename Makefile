# 明白 (mingbai) — one command each: set up, run, test, benchmark.
SHELL := /bin/bash
APP := .venv-app/bin

.PHONY: setup run test test-fast lint-imports bench doctor clean-data

setup:            ## 安装两个运行环境、生成向量模型、建知识库、训练 Rasa
	bash scripts/setup.sh

run:              ## 启动 Rasa(5005)、动作服务器(5055)、网页(8000)
	$(APP)/mingbai run

test:             ## 全部测试 (pytest; 0 tests collected counts as failure)
	bash scripts/test.sh

test-fast:        ## 不需要任何服务：跳过 Rasa、浏览器、PostgreSQL/Redis/RabbitMQ 测试
	bash scripts/test.sh -m "not (rasa or browser or services)"

lint-imports:     ## 检查各部分之间的导入约定 (.importlinter)
	$(APP)/lint-imports

bench:            ## 基准测试, 结果写入 docs/BENCHMARKS.md
	OMP_NUM_THREADS=1 $(APP)/python bench/run_all.py

doctor:
	$(APP)/mingbai doctor
