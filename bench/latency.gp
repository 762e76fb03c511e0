# latency.gp - upload -> done latency against offered load, for
# bench/run.sh: gnuplot -e "datafile='...'; outfile='...'; cap='...'" latency.gp
# datafile columns: offered_ips achieved_ips p50_ms p95_ms p99_ms
set terminal pngcairo size 900,560 font "sans,10"
set output outfile
set title "imgpipe serve (2 workers): upload -> done latency vs offered load"
set xlabel "offered load (images/s, open loop)"
set ylabel "latency (s)"
set key top left
set grid
set yrange [0:*]
set xrange [0:*]
set arrow from cap, graph 0 to cap, graph 1 nohead dashtype 2 lc rgb "#888888"
set label "measured capacity" at cap, graph 0.95 right offset -0.5,0 textcolor rgb "#666666"
plot datafile using 1:($3/1000) with linespoints lw 2 pt 7 title "p50", \
     datafile using 1:($4/1000) with linespoints lw 2 pt 5 title "p95", \
     datafile using 1:($5/1000) with linespoints lw 1 pt 9 dashtype 3 title "p99"
