# Perplexity vs KV-cache bytes per token (sotu-heldout.jsonl, seq_len 256, 16 windows), written by kvsvd report.
set terminal svg size 900,560 dynamic noenhanced font 'Sans,12' background '#ffffff'
set output 'ppl-vs-kv-bytes.svg'
set title 'Perplexity vs KV bytes per token: sotu-heldout.jsonl, seq_len 256, 16 windows'
set xlabel 'KV cache bytes per token'
set ylabel 'perplexity'
set grid
set key outside right top
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
plot 'ppl-vs-kv-bytes.dat' index 0 using 1:2 with points pt 5 ps 1.3 title 'full', \
     'ppl-vs-kv-bytes.dat' index 1 using 1:2 with points pt 7 ps 1.3 title 'svd', \
     'ppl-vs-kv-bytes.dat' index 2 using 1:2 with points pt 9 ps 1.3 title 'chunked', \
     'ppl-vs-kv-bytes.dat' index 3 using 1:2 with linespoints dt 2 lw 1.5 pt 6 ps 2 lc rgb '#444444' title 'Pareto front'
